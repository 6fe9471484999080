"""The launcher's third backport (components/postgres/host/patroni_launcher.py), against a real
PostgreSQL 15 and the distribution's Patroni: a restarted Patroni must recognise its running
postmaster although postmaster.pid's start time is more than 3 s away from the kernel's (a clock
step; seen on the lab: the primary's postmaster ran on outside Patroni's control), and must still
refuse a process that merely has the recorded PID."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.realpg import AVAILABLE, scratch_postgres

HOST_DIR = Path(__file__).resolve().parents[2] / "components" / "postgres" / "host"
SYSTEM_PYTHON = "/usr/bin/python3"
HAS_PATRONI = subprocess.run([SYSTEM_PYTHON, "-c", "import patroni.postgresql.postmaster"], capture_output=True,
                             timeout=30).returncode == 0
pytestmark = pytest.mark.skipif(not AVAILABLE or not HAS_PATRONI,
                                reason="needs postgresql-15, patroni (Debian packages) and root")

# argv: launcher dir, data dir, patched|unpatched, PID to write into postmaster.pid, start-time shift (s)
SCENARIO = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import patroni_launcher
note = patroni_launcher.backport_postmaster_check() if sys.argv[3] == "patched" else None
from patroni.postgresql.postmaster import PostmasterProcess
path = sys.argv[2] + "/postmaster.pid"
lines = open(path).read().split("\n")
original = list(lines)
lines[0] = sys.argv[4]
lines[2] = str(int(lines[2]) + int(sys.argv[5]))
open(path, "w").write("\n".join(lines))
try:
    proc = PostmasterProcess.from_pidfile(sys.argv[2])
finally:
    open(path, "w").write("\n".join(original))
print(json.dumps({"note": note, "found": proc.pid if proc else None}))
"""


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[str, int]]:
    """A running PostgreSQL (as the postgres user) on a private socket: (data dir, postmaster PID)."""
    with scratch_postgres("platform-pm-") as pg:
        yield pg.data, pg.postmaster_pid()


def find(data: str, mode: str, pid: int, shift: int) -> dict[str, object]:
    p = subprocess.run([SYSTEM_PYTHON, "-c", SCENARIO, str(HOST_DIR), data, mode, str(pid), str(shift)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_unfixed_patroni_takes_its_postmaster_for_a_stranger_after_a_clock_step(postgres: tuple[str, int]) -> None:
    data, pid = postgres
    assert find(data, "unpatched", pid, 0)["found"] == pid
    assert find(data, "unpatched", pid, 11)["found"] is None  # the lab's 11 s: "not postmaster"


def test_backport_recognises_it_by_executable_and_working_directory(postgres: tuple[str, int]) -> None:
    data, pid = postgres
    r = find(data, "patched", pid, 11)
    assert r["found"] == pid and "patroni/patroni#3516" in str(r["note"])
    assert find(data, "patched", pid, -3600)["found"] == pid


def test_backport_still_refuses_another_process_with_the_recorded_pid(postgres: tuple[str, int]) -> None:
    data, _ = postgres
    # A process that is not a postgres, even one sitting in the data directory, whose start time is
    # far from the recorded one (a stale postmaster.pid whose PID was reused).
    sleeper = subprocess.Popen(["sleep", "60"], cwd=data)
    try:
        time.sleep(0.2)
        assert find(data, "patched", sleeper.pid, 11)["found"] is None
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
