"""The journal heartbeat: every uploading VM gets a timer that writes a journal entry every
HEARTBEAT_EVERY_S, and the verify line reads it from the received journals with the real
journalctl, in journal files written by the real systemd-journal-remote (a quiet VM that sent
nothing for 15 minutes made JournalNotReceived fire for a working hop in the lab)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from components.checks import FAIL, PASS, Context
from components.monitoring import checks, plan
from components.monitoring import names as n
from components.monitoring.render import journal
from tests.unit.helpers import settings

REMOTE = "/lib/systemd/systemd-journal-remote"


class LocalContext(Context):
    """Runs the check's commands on this machine (as root: no sudo)."""

    def sudo(self, host: Any, cmd: str, stdin: str = "", timeout: float | None = None
             ) -> subprocess.CompletedProcess[str]:
        return self.run(host, cmd, stdin=stdin, timeout=timeout)


def write_journal(path: Path, entries: list[tuple[float, str]]) -> None:
    """Journal file `path` with one entry per (time, SYSLOG_IDENTIFIER), via journal-remote's
    export-format input."""
    export = "".join(f"__REALTIME_TIMESTAMP={int(t * 1e6)}\n__MONOTONIC_TIMESTAMP={i + 1}\n"
                     f"_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=vm\n"
                     f"SYSLOG_IDENTIFIER={ident}\nMESSAGE=journal heartbeat\n\n"
                     for i, (t, ident) in enumerate(entries))
    p = subprocess.run([REMOTE, f"--output={path}", "--split-mode=none", "-"], input=export,
                       text=True, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr


def test_every_uploading_vm_gets_the_heartbeat_timer() -> None:
    s = settings("prod-ha")
    mon = n.monitoring_host(s)
    steps = {st.name: st for st in plan.plan(s, []).steps}
    for h in s.hosts.all():
        step = steps.get(f"{h.name}-journal-upload")
        if h.name == mon.name:
            assert step is None
            continue
        assert step is not None
        timer, service = (step.files[f"{n.HEARTBEAT_IDENTIFIER}.{kind}"] for kind in ("timer", "service"))
        assert isinstance(timer, str) and isinstance(service, str)
        assert f"OnUnitActiveSec={n.HEARTBEAT_EVERY_S}s" in timer and "WantedBy=timers.target" in timer
        assert f"-t {n.HEARTBEAT_IDENTIFIER} " in service
    # The heartbeat comes well inside the staleness the alert and the verify line allow.
    assert 2 * n.HEARTBEAT_EVERY_S + 60 <= checks.HEARTBEAT_WINDOW_S < 600


@pytest.mark.skipif(not Path(REMOTE).exists(), reason="systemd-journal-remote is not installed")
def test_the_verify_line_finds_each_vms_recent_heartbeat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings("lab")
    mon = n.monitoring_host(s)
    others = [h for h in s.hosts.all() if h.name != mon.name]
    fresh, stale, other_only, rotated = others[0], others[1], others[2], others[3]
    now = time.time()
    write_journal(tmp_path / f"remote-{fresh.private_ip}.journal",
                  [(now - 900, n.HEARTBEAT_IDENTIFIER), (now - 30, n.HEARTBEAT_IDENTIFIER)])
    write_journal(tmp_path / f"remote-{stale.private_ip}.journal", [(now - 900, n.HEARTBEAT_IDENTIFIER)])
    # Another sender whose address starts with the stale VM's (10.0.1.1 / 10.0.1.11): not its journal.
    write_journal(tmp_path / f"remote-{stale.private_ip}9.journal", [(now - 20, n.HEARTBEAT_IDENTIFIER)])
    write_journal(tmp_path / f"remote-{other_only.private_ip}.journal", [(now - 10, "sshd")])
    # Only a rotated file of this VM holds the heartbeat.
    write_journal(tmp_path / f"remote-{rotated.private_ip}@0123-0000000000000001-0000000000000001.journal",
                  [(now - 40, n.HEARTBEAT_IDENTIFIER)])
    monkeypatch.setattr(n, "JOURNAL_REMOTE_DIR", str(tmp_path))
    ctx = LocalContext(settings=s, outputs={}, ssh_argv=lambda h: ["bash", "-c"])
    rows = {r.subject: r for r in checks.heartbeats(ctx)}
    assert set(rows) == {h.name for h in others}
    assert rows[fresh.name].status == PASS and rows[fresh.name].evidence.endswith("s ago")
    assert 25 <= float(rows[fresh.name].evidence.split()[0]) <= 60
    assert rows[stale.name].status == FAIL  # its only heartbeat is 15 minutes old
    assert rows[other_only.name].status == FAIL  # entries, but no heartbeat
    assert rows[rotated.name].status == PASS
    assert all(rows[h.name].status == FAIL for h in others[4:])  # no journal at all
    assert f"{n.HEARTBEAT_IDENTIFIER}.timer" in rows[stale.name].evidence


def test_heartbeat_units_pass_systemd_analyze(tmp_path: Path) -> None:
    units = journal.render_heartbeat_units()
    for name, text in units.items():
        (tmp_path / name).write_text(text)
    p = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / u) for u in units)],
                       capture_output=True, text=True, timeout=60)
    problems = [ln for ln in (p.stdout + p.stderr).splitlines() if n.HEARTBEAT_IDENTIFIER in ln]
    assert p.returncode == 0 and not problems, p.stdout + p.stderr
