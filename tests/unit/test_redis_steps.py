"""The Redis host steps, run for real in a throwaway copy of this machine's filesystem.

Each step's exact bundle (from the program under mocks, `lab` stack) runs through the fixed
bootstrap inside `unshare -m` + overlayfs over `/` + chroot, so every write lands in a temporary
upper directory. `systemctl`, `sysctl` and `redis-cli` are stubs that record calls (no systemd
here, and kernel settings are global); everything else is real (dpkg-query, install, perl, stat).
Proves: first run changes, second run says `platform-step: unchanged` and restarts nothing, a
changed setting rewrites and restarts, and a re-rendered sentinel.conf keeps Sentinel's state.
Skipped unless root with the packages installed (redis-server redis-sentinel redis-tools
prometheus-redis-exporter s3cmd).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.remote import bootstrap_command
from scripts.program import is_secret, run_program
from tests.unit.helpers import config

PACKAGES = ("redis-server", "redis-sentinel", "redis-tools", "prometheus-redis-exporter", "s3cmd")


def _installed(pkg: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", pkg], capture_output=True, text=True)
    return out.stdout == "installed"


pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("dpkg-query")
    or not all(_installed(p) for p in PACKAGES),
    reason="needs root, unshare and the Redis packages installed",
)

SYSTEMCTL = r"""#!/bin/bash
S=/stub-state; mkdir -p "$S"; echo "systemctl $*" >>"$S/log"
args=(); for a in "$@"; do case "$a" in --quiet|--now|-q) ;; *) args+=("$a") ;; esac; done
cmd=${args[0]:-}; unit=${args[1]:-}
case "$cmd" in
  is-enabled) [ -e "$S/enabled.$unit" ] ;;
  is-active) [ -e "$S/active.$unit" ] ;;
  enable) touch "$S/enabled.$unit" ;;
  disable) rm -f "$S/enabled.$unit" ;;
  start|restart) touch "$S/active.$unit" ;;
  stop) rm -f "$S/active.$unit" ;;
  *) exit 0 ;;
esac
"""
SYSCTL = """#!/bin/bash
echo "sysctl $*" >>/stub-state/log
if [ "$1" = -n ]; then echo 0; fi
exit 0
"""
REDIS_CLI = """#!/bin/bash
case " $* " in
  *" PING "*) echo PONG ;;
  *" ROLE "*) printf 'master\\n0\\n' ;;
  *GET-MASTER-ADDR-BY-NAME*) printf '198.18.0.21\\n6379\\n' ;;
esac
"""


class Sandbox:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        for d in ("upper", "work", "merged"):
            (tmp / d).mkdir()
        self.upper = tmp / "upper"

    def run(self, stdin: str, step_id: str) -> subprocess.CompletedProcess[str]:
        m = self.tmp / "merged"
        stubs = {"systemctl": SYSTEMCTL, "sysctl": SYSCTL, "redis-cli": REDIS_CLI}
        setup = [
            f"mount -t overlay overlay -o lowerdir=/,upperdir={self.upper},workdir={self.tmp / 'work'} {m}",
            f"mount --bind /dev {m}/dev",
            f"mount -t proc proc {m}/proc",
            f"mkdir -p {m}/stubs {m}/stub-state",
        ]
        for name, text in stubs.items():
            (self.tmp / name).write_text(text)
            setup.append(f"install -m 0755 {self.tmp / name} {m}/stubs/{name}")
        inner = bootstrap_command(step_id, sudo=False)
        env = "/usr/bin/env -i PATH=/stubs:/usr/sbin:/usr/bin:/sbin:/bin"
        script = " && ".join(setup) + f" && exec chroot {m} {env} /bin/bash -c {shlex.quote(inner)}"
        return subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", script],
                              input=stdin, capture_output=True, text=True, timeout=120)

    def file(self, path: str) -> str:
        return (self.upper / path.lstrip("/")).read_text()

    def log(self) -> list[str]:
        p = self.upper / "stub-state/log"
        return p.read_text().splitlines() if p.exists() else []

    def clear_log(self) -> None:
        (self.upper / "stub-state/log").write_text("")


def bundles(**overrides: object) -> dict[str, str]:
    r = run_program("lab", config("lab", **overrides))
    out = {}
    for x in r.records:
        if x.type == "command:remote:Command" and x.name.startswith("redis-"):
            stdin = x.inputs["stdin"]
            out[x.name] = stdin["value"] if is_secret(stdin) else stdin
    return out


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    yield Sandbox(tmp_path)


def status(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_redis_step_is_idempotent_and_restarts_only_on_change(box: Sandbox) -> None:
    b = bundles()
    first = status(box.run(b["redis-1-redis"], "redis-1-redis"))
    assert first.startswith("platform-step: changed:") and "/etc/redis/redis.conf" in first
    conf = box.file("/etc/redis/redis.conf")
    assert "requirepass generated-redis-admin" in conf and "{{secret:" not in conf
    assert "systemctl restart redis-server" in box.log()
    assert (box.upper / "etc/redis/redis.conf").stat().st_mode & 0o777 == 0o640
    assert "ExecStartPre=+/usr/local/lib/platform-redis/redis-guard" in box.file(
        "/etc/systemd/system/redis-server.service.d/platform.conf")
    assert "vm.overcommit_memory=0" in box.file("/var/lib/platform-redis/kernel-report")
    box.clear_log()
    assert status(box.run(b["redis-1-redis"], "redis-1-redis")) == "platform-step: unchanged"
    assert not [c for c in box.log() if "restart" in c or "start" in c.split()]
    # Redis rewrote its file (CONFIG REWRITE after a Sentinel reconfiguration): not clobbered.
    live = box.upper / "etc/redis/redis.conf"
    live.write_text(live.read_text() + "replicaof 198.18.0.22 6379\n")
    assert status(box.run(b["redis-1-redis"], "redis-1-redis")) == "platform-step: unchanged"
    assert live.read_text().endswith("replicaof 198.18.0.22 6379\n")
    # A changed setting rewrites the file and restarts (the guard then re-adds replicaof).
    box.clear_log()
    changed = bundles(redis={"maxmemoryMb": 100})
    out = status(box.run(changed["redis-1-redis"], "redis-1-redis"))
    assert "/etc/redis/redis.conf" in out and "restarted redis-server" in out
    assert "maxmemory 100mb" in box.file("/etc/redis/redis.conf")


def test_sentinel_step_keeps_sentinel_state(box: Sandbox) -> None:
    b = bundles()
    assert status(box.run(b["redis-3-sentinel"], "redis-3-sentinel")).startswith("platform-step: changed:")
    live = box.upper / "etc/redis/sentinel.conf"
    assert "sentinel monitor platform 198.18.0.21 6379 2" in live.read_text()
    # What Sentinel writes after a failover to redis-2.
    text = live.read_text().replace("sentinel monitor platform 198.18.0.21 6379 2",
                                    "sentinel monitor platform 198.18.0.22 6379 2")
    text += ("sentinel myid 0123456789abcdef0123456789abcdef01234567\nsentinel current-epoch 3\n"
             "sentinel known-replica platform 198.18.0.21 6379\n"
             "sentinel known-sentinel platform 198.18.0.21 26379 aaaa\n")
    live.write_text(text)
    box.clear_log()
    assert status(box.run(b["redis-3-sentinel"], "redis-3-sentinel")) == "platform-step: unchanged"
    assert live.read_text() == text and not [c for c in box.log() if "restart" in c]
    out = status(box.run(bundles(redis={"downAfterMs": 2000})["redis-3-sentinel"], "redis-3-sentinel"))
    assert "restarted redis-sentinel" in out
    merged = live.read_text().splitlines()
    for want in ("sentinel monitor platform 198.18.0.22 6379 2", "sentinel down-after-milliseconds platform 2000",
                 "sentinel myid 0123456789abcdef0123456789abcdef01234567", "sentinel current-epoch 3",
                 "sentinel known-replica platform 198.18.0.21 6379"):
        assert want in merged, want


def test_exporter_and_backup_steps_are_idempotent(box: Sandbox) -> None:
    b = bundles()
    for name in ("redis-1-redis-exporters", "redis-3-redis-exporters", "redis-1-redis-backup"):
        assert status(box.run(b[name], name)).startswith("platform-step: changed:"), name
        assert status(box.run(b[name], name)) == "platform-step: unchanged", name
    env = box.file("/etc/default/prometheus-redis-exporter")
    assert "REDIS_PASSWORD=generated-redis-exporter" in env
    assert (box.upper / "etc/default/prometheus-redis-exporter").stat().st_mode & 0o777 == 0o640
    s3cfg = box.file("/etc/redis/platform/s3cfg")
    assert "access_key = placeholder-s3AccessKey" in s3cfg
    assert (box.upper / "etc/redis/platform/s3cfg").stat().st_mode & 0o777 == 0o600
    assert "OnCalendar=*-*-* 02:30:00" in box.file("/etc/systemd/system/platform-redis-backup.timer")
    assert "systemctl enable --quiet platform-redis-backup.timer" in box.log()
    # The Sentinel-only VM does not run the packaged exporter for a redis-server it does not have.
    assert "systemctl enable --quiet prometheus-redis-exporter" in box.log()  # redis-1
    assert (box.upper / "usr/local/sbin/platform-redis-restore").stat().st_mode & 0o777 == 0o755
