"""The lab host layer itself: hosts boot, SSH/sudo as deploy, apt from the local repository, S3
over HTTPS with the lab CA, name resolution between hosts, and a `down` that leaves nothing behind.

Needs root, systemd-nspawn and the Debian mirror (first `prepare` ~2 min, then seconds).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scripts.lablib import sysstate
from scripts.lablib.api import (
    ca_cert_path,
    host_pid,
    hosts,
    netns,
    s3_credentials,
    s3_endpoint,
    s3_local_endpoint,
    ssh_run,
)
from tests.integration.conftest import lab

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_ssh_and_sudo_as_deploy_on_every_host(lab_up: None) -> None:
    for h in hosts():
        cp = ssh_run(h.name, "sudo -n true && id -un && hostname", timeout=30)
        assert cp.returncode == 0, f"{h.name}: {cp.stderr}"
        assert cp.stdout.split() == ["deploy", h.name]
        pid = host_pid(h.name)
        assert pid is not None and sysstate.root_upperdir(pid).endswith(f"/.lab/hosts/{h.name}/upper")
        assert sysstate.nspid(pid)[-1] == 1  # the host's init
        assert netns(h.name) in sysstate.netns_names()


def test_apt_installs_from_local_repository(lab_up: None) -> None:
    h = hosts()[-1].name
    cp = ssh_run(
        h,
        "grep -rhv '^#' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep . ; "
        "sudo apt-get update -q >/dev/null && "
        "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq >/dev/null && jq --version",
        timeout=300,
    )
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.strip().splitlines()
    assert lines[0] == "deb [trusted=yes] file:/srv/labrepo ./"  # the only source
    assert lines[-1].startswith("jq-1.6")


def test_s3_over_https_verifying_the_lab_ca(lab_up: None) -> None:
    import boto3

    access, secret = s3_credentials()
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_local_endpoint(),
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket="lab-hosts-test")
    s3.put_object(Bucket="lab-hosts-test", Key="hello.txt", Body=b"hello from the lab\n")
    ca = ca_cert_path().read_text()
    h = hosts()[0].name
    port = s3_endpoint().rsplit(":", 1)[1]
    # CA to a file through stdin; credentials through a curl config on stdin (never on a command line).
    # An empty --capath: only the given --cacert counts (curl also reads /etc/ssl/certs otherwise).
    put_ca = ssh_run(h, "mkdir -p /tmp/no-capath && cat > /tmp/lab-ca.crt", stdin=ca, timeout=30)
    assert put_ca.returncode == 0, put_ca.stderr
    for url in (f"https://s3.lab:{port}/lab-hosts-test/hello.txt", f"{s3_endpoint()}/lab-hosts-test/hello.txt"):
        cp = ssh_run(
            h,
            "curl -sS --fail --cacert /tmp/lab-ca.crt --capath /tmp/no-capath"
            f" --aws-sigv4 aws:amz:us-east-1:s3 -K - {url}",
            stdin=f'user = "{access}:{secret}"\n',
            timeout=30,
        )
        assert cp.returncode == 0, cp.stderr
        assert cp.stdout == "hello from the lab\n"
    # The lab CA is in the hosts' system trust store (as a public CA is on a real VM) ...
    cp = ssh_run(h, f"curl -sS -o /dev/null -w '%{{http_code}}' https://s3.lab:{port}/", timeout=30)
    assert cp.stdout == "200", cp.stderr
    # ... and nothing else signs for it: a wrong CA is refused.
    cp = ssh_run(
        h,
        f"curl -sS -o /dev/null --cacert /etc/ssl/certs/ISRG_Root_X1.pem --capath /tmp/no-capath https://s3.lab:{port}/",
        timeout=30,
    )
    assert cp.returncode == 60, cp.stderr  # certificate verification failed


def test_hosts_resolve_each_other_and_dns_fails_fast(lab_up: None) -> None:
    hs = hosts()
    names = " ".join(h.name for h in hs)
    cp = ssh_run(hs[0].name, f"getent hosts {names} s3.lab", timeout=30)
    assert cp.returncode == 0, cp.stderr
    got = {line.split()[1].removesuffix(".lab"): line.split()[0] for line in cp.stdout.splitlines()}
    assert got == {**{h.name: h.ip for h in hs}, "s3": "198.18.0.1"}
    cp = ssh_run(hs[0].name, f"ping -c1 -W2 {hs[-1].name} >/dev/null && echo ok", timeout=30)
    assert cp.stdout.strip() == "ok", cp.stderr
    t = time.monotonic()
    cp = ssh_run(hs[0].name, "getent hosts deb.debian.org", timeout=30)
    assert cp.returncode != 0 and time.monotonic() - t < 5


def test_repository_serves_what_the_host_scripts_install(lab_up: None) -> None:
    """Every literal package name in `ensure_packages` calls of the host scripts the lab stack runs
    is in the local repository or already in the base image. (Scripts of parts the lab stack leaves
    off, such as Grafana from Grafana's own apt repository, install from elsewhere.)"""
    from components.catalog import plans
    from tests.unit.helpers import settings

    lab_scripts = {s.script for p in plans(settings("lab")).values() for s in p.steps}
    assert len(lab_scripts) > 10, lab_scripts
    served = {
        line.split(":", 1)[1].strip()
        for line in (ROOT / ".lab/repo/Packages").read_text().splitlines()
        if line.startswith("Package:")
    }
    status = (ROOT / ".lab/base/bookworm/var/lib/dpkg/status").read_text().split("\n\n")
    in_base = {e.split("\n", 1)[0].removeprefix("Package: ") for e in status if "Status: install ok installed" in e}
    wanted: dict[str, str] = {}
    for script in sorted(lab_scripts):
        for line in script.read_text().splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] == ["ensure_packages"]:
                for w in words[1:]:
                    if "$" not in w:
                        wanted.setdefault(w.strip("\"'"), str(script.relative_to(ROOT)))
    missing = {p: where for p, where in wanted.items() if p not in served | in_base}
    assert not missing, f"add to scripts/lablib/packages.txt: {missing}"


def test_hosts_up_again_keeps_running_hosts(lab_up: None) -> None:
    before = {h.name: host_pid(h.name) for h in hosts()}
    cp = lab("hosts-up", timeout=120)
    assert "kept running" in cp.stderr
    assert {h.name: host_pid(h.name) for h in hosts()} == before
