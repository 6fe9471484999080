"""The drills' alert figures (scripts/drills/alerts.py) from a recorded receiver log and a fake
Alertmanager API on loopback: what counts as paged, when, and resolved."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from scripts.drills import alerts
from scripts.drills.common import Expect
from scripts.lablib import receiver


class FakeAlertmanager(http.server.BaseHTTPRequestHandler):
    active: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps(self.active).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    log = tmp_path / "n.jsonl"
    monkeypatch.setattr(receiver, "log_path", lambda: log)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeAlertmanager)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(alerts, "PAGE_WAIT_S", 2.0)
    monkeypatch.setattr(alerts, "RESOLVE_WAIT_S", 2.0)
    monkeypatch.setattr(alerts, "POLL", 0.05)
    monkeypatch.setattr(alerts, "GROUP_GC_S", 1.0)

    class W(alerts.AlertWatch):
        def __init__(self) -> None:  # no lab: the fake's address
            self.url = f"http://127.0.0.1:{server.server_address[1]}/"
            self.started = time.time()
            self.first_active = {}
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, daemon=True)

    def note(at: float, name: str, status: str, path: str = "/alerts", starts: float | None = None,
             **labels: str) -> None:
        """A notification received at `at`; the alert started firing `starts` (default: 1 s before)."""
        alert = {"status": status, "labels": {"alertname": name, **labels},
                 "startsAt": iso(at - 1 if starts is None else starts)}
        with open(log, "a") as f:
            f.write(json.dumps({"received": at, "path": path, "payload": {"status": status, "alerts": [alert]}})
                    + "\n")

    yield W, note
    server.shutdown()


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


def test_critical_alert_paged_and_resolved_in_time(env) -> None:  # type: ignore[no-untyped-def]
    watch_cls, note = env
    alerts.CURRENT.expect = Expect("HostDown", critical=True, await_resolution=True)
    alerts.mark_fault()
    fault = alerts.CURRENT.fault_at
    assert fault is not None
    FakeAlertmanager.active = [{"labels": {"alertname": "HostDown"}, "startsAt": iso(fault + 1)}]
    w = watch_cls().start()
    time.sleep(0.3)
    note(fault + 40, "HostDown", "firing")
    alerts.mark_recovered()
    recovered = alerts.CURRENT.recovered_at
    assert recovered is not None
    note(recovered + 70, "HostDown", "resolved")
    res = alerts.evaluate(w)
    assert res["alert_notified_seconds"] == 40.0 and res["alert_resolved_seconds"] == 70.0
    assert res["alert_firing_seconds"] is not None and res["alert_passed"] is True


def test_late_page_fails_a_critical_drill(env) -> None:  # type: ignore[no-untyped-def]
    watch_cls, note = env
    alerts.CURRENT.expect = Expect("HostDown", critical=True)
    alerts.mark_fault()
    fault = alerts.CURRENT.fault_at
    assert fault is not None
    note(fault + 75, "HostDown", "firing")
    res = alerts.evaluate(watch_cls().start())
    assert res["alert_notified_seconds"] == 75.0 and res["alert_passed"] is False


def test_a_fault_that_must_page_nobody(env) -> None:  # type: ignore[no-untyped-def]
    watch_cls, note = env
    alerts.CURRENT.expect = Expect(None)
    alerts.mark_fault()
    fault = alerts.CURRENT.fault_at
    assert fault is not None
    note(fault - 100, "HostDown", "firing")  # before the run: not counted
    note(fault + 5, "Watchdog", "firing", path="/deadman")
    # An earlier fault's alert in its group's next notification during the run: not this run's page.
    note(fault + 6, "PostgresRestarted", "firing", starts=fault - 120)
    assert alerts.evaluate(watch_cls().start())["alert_passed"] is True
    alerts.mark_fault()
    note(time.time() + 1, "TargetDown", "firing")
    res = alerts.evaluate(watch_cls().start())
    assert res["pages"] == ["TargetDown"] and res["alert_passed"] is False


def test_an_optional_alert(env) -> None:  # type: ignore[no-untyped-def]
    watch_cls, note = env
    alerts.CURRENT.expect = Expect("RedisMasterChanged", required=False)
    alerts.mark_fault()
    fault = alerts.CURRENT.fault_at
    assert fault is not None
    note(fault + 1, "RedisMasterChanged", "firing")
    note(fault + 2, "PostgresRestarted", "firing", starts=fault - 120)  # from before the fault
    assert alerts.evaluate(watch_cls().start())["alert_passed"] is True


def test_a_run_starts_only_once_an_earlier_faults_alert_resolved(env) -> None:  # type: ignore[no-untyped-def]
    # RedisMasterChanged from the previous drill's failover is still firing (it looks back 5 min):
    # a new fault would neither start it nor page again, so the run waits until it is gone.
    watch_cls, _ = env
    FakeAlertmanager.active = [{"labels": {"alertname": "RedisMasterChanged"}, "startsAt": iso(time.time() - 100)},
                               {"labels": {"alertname": "Watchdog"}, "startsAt": iso(time.time() - 900)}]
    threading.Timer(0.5, lambda: setattr(FakeAlertmanager, "active", FakeAlertmanager.active[1:])).start()
    waited = alerts.wait_quiet(watch_cls(), "RedisMasterChanged", timeout=10)
    assert 0.4 <= waited < 5
    assert alerts.wait_quiet(watch_cls(), "RedisMasterChanged", timeout=10) < 0.2  # quiet: no wait
    FakeAlertmanager.active = [{"labels": {"alertname": "HostDown"}, "startsAt": iso(time.time())}]
    t = time.monotonic()
    alerts.wait_quiet(watch_cls(), "HostDown", timeout=0.5)  # bounded
    assert time.monotonic() - t < 2


def test_a_run_waits_for_the_resolution_to_be_notified(env) -> None:  # type: ignore[no-untyped-def]
    # Inactive in Alertmanager, but its resolution not sent yet (the group flushes every
    # group_interval): firing again now would match the notification log and page nobody.
    watch_cls, note = env
    FakeAlertmanager.active = []
    note(time.time() - 60, "RedisMasterChanged", "firing")
    threading.Timer(0.5, lambda: note(time.time(), "RedisMasterChanged", "resolved")).start()
    waited = alerts.wait_quiet(watch_cls(), "RedisMasterChanged", timeout=10)
    # ... and GROUP_GC_S (1 s here) after it: until Alertmanager deleted the emptied group, a new
    # alert joins it and is sent at its next flush (HostDown of back-to-back node deaths: 78 s).
    assert 1.4 <= waited < 5
    note(time.time() - 60, "HostDown", "resolved")
    assert alerts.wait_quiet(watch_cls(), "HostDown", timeout=10) < 0.2


def test_an_instance_still_firing_from_an_earlier_fault_is_not_this_faults_page(env) -> None:  # type: ignore[no-untyped-def]
    # The group's next notification after the fault still lists the earlier failover's instance
    # (master A); only the new master's instance, started after the fault, is this fault's page.
    watch_cls, note = env
    alerts.CURRENT.expect = Expect("RedisMasterChanged")
    alerts.mark_fault()
    fault = alerts.CURRENT.fault_at
    assert fault is not None
    note(fault + 3, "RedisMasterChanged", "firing", starts=fault - 200, master_address="A")
    assert alerts.evaluate(watch_cls().start())["alert_passed"] is False
    alerts.mark_fault()
    fault = alerts.CURRENT.fault_at
    assert fault is not None
    note(fault + 3, "RedisMasterChanged", "firing", starts=fault - 200, master_address="A")
    note(fault + 9, "RedisMasterChanged", "firing", starts=fault + 4, master_address="B")
    res = alerts.evaluate(watch_cls().start())
    assert res["alert_passed"] is True and res["alert_notified_seconds"] == 9.0


def test_per_instance_alerts_wait_only_for_an_instance_the_fault_could_raise_again(env) -> None:  # type: ignore[no-untyped-def]
    watch_cls, note = env
    now = time.time()
    a = {"labels": {"alertname": "RedisMasterChanged", "master_address": "A"}, "startsAt": iso(now - 100)}
    b = {"labels": {"alertname": "RedisMasterChanged", "master_address": "B"}, "startsAt": iso(now - 200)}
    note(now - 199, "RedisMasterChanged", "firing", starts=now - 200, master_address="B")
    note(now - 99, "RedisMasterChanged", "firing", starts=now - 100, master_address="A")
    note(now - 98, "RedisMasterChanged", "resolved", starts=now - 200, master_address="B")
    # Only the current master's instance is active, the other's resolution went out: no wait
    # (the fault moves the master away from A, to an instance that pages anew).
    FakeAlertmanager.active = [a]
    assert alerts.wait_quiet(watch_cls(), "RedisMasterChanged", per="master_address", timeout=10) < 0.2
    # Without `per` the same state blocks (one instance per name: A would be re-used).
    assert alerts.wait_quiet(watch_cls(), "RedisMasterChanged", timeout=0.3) >= 0.3
    # Two active (B about to resolve): wait until only one is.
    FakeAlertmanager.active = [a, b]
    threading.Timer(0.5, lambda: setattr(FakeAlertmanager, "active", [a])).start()
    assert 0.4 <= alerts.wait_quiet(watch_cls(), "RedisMasterChanged", per="master_address", timeout=10) < 5
    # B inactive but its last notification says firing: the fault could move the master back to B.
    # Once its resolution went out, the run still waits GROUP_GC_S (1 s here): until Alertmanager
    # deleted B's emptied group, a new B alert would join it and wait for its next flush.
    note(time.time(), "RedisMasterChanged", "firing", starts=now - 50, master_address="B")
    threading.Timer(0.5, lambda: note(time.time(), "RedisMasterChanged", "resolved", starts=now - 50,
                                      master_address="B")).start()
    assert 1.4 <= alerts.wait_quiet(watch_cls(), "RedisMasterChanged", per="master_address", timeout=10) < 5


def test_a_drills_alert_is_grouped_as_its_contract_says() -> None:
    # The drills wait for quiet per instance exactly where Alertmanager groups per instance: both
    # come from the contract's Alert.per, not from a second list in the drills.
    from types import SimpleNamespace

    from tests.unit.helpers import settings

    lab = SimpleNamespace(settings=settings("lab"))
    assert alerts.alert_per(lab, "PostgresFailover") == "host"  # type: ignore[arg-type]
    assert alerts.alert_per(lab, "RedisMasterChanged") == "master_address"  # type: ignore[arg-type]
    assert alerts.alert_per(lab, "HostDown") is None  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="NoSuchAlert"):
        alerts.alert_per(lab, "NoSuchAlert")  # type: ignore[arg-type]
