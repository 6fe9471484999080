"""What PostgresCrashed (components/postgres/alerts.py) reads, against a real PostgreSQL 15:
`pg_stat_bgwriter.stats_reset` stays over a clean restart (a planned restart, a switchover's
demotion) and moves to the restart after a crash recovery: a killed postmaster and its children
(the pg-crash drill), a killed child alone (the postmaster reinitialises), an immediate stop."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.unit.realpg import AVAILABLE, BIN, ScratchPostgres, scratch_postgres

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="needs postgresql-15 (Debian package) and root")

RESET = "select extract(epoch from stats_reset) from pg_stat_bgwriter"


@pytest.fixture(scope="module")
def pg() -> Iterator[ScratchPostgres]:
    with scratch_postgres("platform-crash-") as p:
        yield p


def reset_at(pg: ScratchPostgres) -> float:
    return float(pg.query(RESET))


def wait_accepting(pg: ScratchPostgres, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pg.as_pg(str(BIN / "pg_isready"), "-h", pg.base, timeout=10).returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError("PostgreSQL did not accept connections again")


def test_a_clean_restart_keeps_the_reset_time(pg: ScratchPostgres) -> None:
    before = reset_at(pg)
    pg.stop("fast")
    pg.start()
    assert reset_at(pg) == before


def test_a_killed_postmaster_and_its_children_reset_it(pg: ScratchPostgres) -> None:
    before = reset_at(pg)
    time.sleep(1.1)
    pm = pg.postmaster_pid()
    kids = subprocess.run(["pgrep", "-P", str(pm)], capture_output=True, text=True, timeout=10).stdout.split()
    for pid in [pm, *map(int, kids)]:
        os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 30
    while time.time() < deadline and any(os.path.exists(f"/proc/{k}") for k in kids):
        time.sleep(0.1)
    os.unlink(f"{pg.data}/postmaster.pid")  # what Patroni's start finds stale and ignores
    started = time.time()
    pg.start()
    assert reset_at(pg) >= started - 1 > before


def test_a_killed_child_resets_it_without_a_new_postmaster(pg: ScratchPostgres) -> None:
    before, pm = reset_at(pg), pg.postmaster_pid()
    time.sleep(1.1)
    ckpt = int(pg.query("select pid from pg_stat_activity where backend_type = 'checkpointer'"))
    killed = time.time()
    os.kill(ckpt, signal.SIGKILL)
    time.sleep(1)
    wait_accepting(pg)
    assert pg.postmaster_pid() == pm
    assert reset_at(pg) >= killed - 1 > before


def test_an_immediate_stop_resets_it(pg: ScratchPostgres) -> None:
    before = reset_at(pg)
    time.sleep(1.1)
    pg.stop("immediate")
    started = time.time()
    pg.start()
    assert reset_at(pg) >= started - 1 > before
