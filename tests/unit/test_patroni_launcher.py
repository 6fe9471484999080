"""The Patroni launcher's backport (components/postgres/host/patroni_launcher.py), against a real
etcd on loopback and the distribution's Patroni: an old leader whose lease expired must not take
the leader key back from the node that holds it now (it did on Patroni 3.0.2: the pg-partition
drill saw a cluster left without a primary), and must still renew or re-create its own key."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HOST_DIR = Path(__file__).resolve().parents[2] / "components" / "postgres" / "host"
SYSTEM_PYTHON = "/usr/bin/python3"
HAS_PATRONI = subprocess.run([SYSTEM_PYTHON, "-c", "import patroni.dcs.etcd3"], capture_output=True,
                             timeout=30).returncode == 0
pytestmark = pytest.mark.skipif(not shutil.which("etcd") or not HAS_PATRONI,
                                reason="needs etcd-server and patroni (Debian packages)")

SCENARIOS = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import patroni_launcher
note = patroni_launcher.backport() if sys.argv[3] == "patched" else None
from patroni.version import __version__
from patroni.dcs.etcd3 import Etcd3
ns = "/t%d/" % time.time_ns()
def dcs(name):
    return Etcd3({"hosts": [sys.argv[2]], "scope": "c", "name": name, "ttl": 20, "retry_timeout": 5,
                  "loop_wait": 5, "namespace": ns})
def leader(d, want=None):
    # Another node's view comes from its watch cache: give it (bounded) time to catch up.
    deadline = time.monotonic() + 5
    while True:
        c = d.get_cluster()
        name = c.leader and c.leader.name
        if name == want or time.monotonic() > deadline:
            return name
        time.sleep(0.05)
a, b = dcs("a"), dcs("b")
out = {"version": __version__, "note": note}
out["renews_own_key"] = a.attempt_to_acquire_leader() and a.update_leader(None) and leader(b, "a") == "a"
# a's lease expires (revoked here) while a still believes it leads; b takes the key.
a.get_cluster()
a._client.call_rpc("/lease/revoke", {"ID": a._lease})
out["b_acquires"] = leader(b, None) is None and b.attempt_to_acquire_leader()
out["a_update_after_b"] = a.update_leader(None)
time.sleep(0.5)
out["leader_after"] = leader(b, "b")
# b's lease expires and nobody holds the key: a may create it again.
b._client.call_rpc("/lease/revoke", {"ID": b._lease})
a.get_cluster()
out["a_recreates_missing_key"] = leader(b, None) is None and a.update_leader(None) and leader(b, "a") == "a"
print(json.dumps(out))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def etcd() -> Iterator[str]:
    client, peer = _free_port(), _free_port()
    with tempfile.TemporaryDirectory(prefix="platform-etcd-") as d:
        proc = subprocess.Popen(
            ["etcd", "--name", "t", "--data-dir", f"{d}/data", "--listen-client-urls", f"http://127.0.0.1:{client}",
             "--advertise-client-urls", f"http://127.0.0.1:{client}", "--listen-peer-urls",
             f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"t=http://127.0.0.1:{peer}"],
            stdout=subprocess.DEVNULL, stderr=open(f"{d}/log", "w"))  # noqa: SIM115
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                p = subprocess.run(["etcdctl", f"--endpoints=127.0.0.1:{client}", "endpoint", "health"],
                                   capture_output=True, env={"ETCDCTL_API": "3"}, timeout=10)
                if p.returncode == 0:
                    break
                time.sleep(0.2)
            else:
                pytest.fail("etcd did not become healthy in 20 s: " + Path(f"{d}/log").read_text()[-500:])
            yield f"127.0.0.1:{client}"
        finally:
            proc.kill()
            proc.wait(timeout=10)


def run(etcd: str, mode: str) -> dict[str, object]:
    p = subprocess.run([SYSTEM_PYTHON, "-c", SCENARIOS, str(HOST_DIR), etcd, mode], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_backported_patroni_never_overwrites_another_leader(etcd: str) -> None:
    r = run(etcd, "patched")
    assert r["renews_own_key"] is True
    assert r["b_acquires"] is True
    assert r["a_update_after_b"] is False
    assert r["leader_after"] == "b"
    assert r["a_recreates_missing_key"] is True


def test_scenario_reproduces_the_bug_on_unfixed_patroni(etcd: str) -> None:
    r = run(etcd, "unpatched")
    version = tuple(int(x) for x in str(r["version"]).split(".")[:3])
    if version >= (3, 0, 3):
        pytest.skip(f"Patroni {r['version']} has the upstream fix")
    assert r["leader_after"] == "a", "the scenario no longer shows the old leader taking the key back"
    patched = run(etcd, "patched")
    assert "backport of patroni/patroni#2689" in str(patched["note"])
