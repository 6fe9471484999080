"""Drills see alerts: while a drill runs, watch Alertmanager (`/api/v2/alerts`, reachable from this
machine, an admin source) and the lab's receiver (scripts/lablib/receiver.py) for the alert the
drill's fault should raise; after the run, wait (bounded) for it to resolve.

A drill marks the moment it injects its fault (`mark_fault()`) and the moment the fault is gone
(`mark_recovered()`, e.g. the killed VM started again); a fault that would end before it can page
(a VM the drill restarts itself) is held with `hold_until_paged()` first - a dead VM stays dead until
someone is paged. The figures are relative to those marks:
`alert_firing_seconds` (Alertmanager has it active), `alert_notified_seconds` (the receiver got the
firing notification), `alert_resolved_seconds` (the receiver got the resolution, from recovery).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from components import catalog
from components.monitoring import names as mon_names
from scripts.drills.common import Expect, Lab, log

POLL = 1.0
DEADMAN = "/deadman"  # the receiver's path for the dead man's switch (scripts/lablib/receiver.py)
NOTIFY_TARGET_S = 60.0
RESOLVE_TARGET_S = 120.0
RESOLVE_WAIT_S = 180.0
PAGE_WAIT_S = 2 * NOTIFY_TARGET_S  # how long to wait for a page at all (a late one is measured too)
QUIET_WAIT_S = 540.0  # an earlier fault's alert resolving: a 5 min look-back, evaluation, a group_interval
# Alertmanager deletes a group whose alerts all resolved at its next maintenance (every 30 s).
GROUP_GC_S = 35.0
CLOCK_SLACK_S = 1.0  # startsAt (Prometheus on the monitoring VM) against this machine's clock: one kernel


@dataclass
class Run:
    """The alert state of the drill run in progress (one at a time per process)."""

    expect: Expect | None = None
    fault_at: float | None = None
    recovered_at: float | None = None
    quiet_wait_seconds: float = 0.0  # waited before the run for the expected alert to resolve


CURRENT = Run()


def mark_fault() -> None:
    CURRENT.fault_at, CURRENT.recovered_at = time.time(), None


def mark_recovered() -> None:
    if CURRENT.recovered_at is None:
        CURRENT.recovered_at = time.time()


def hold_until_paged(timeout: float | None = None) -> None:
    """Keep the fault until the expected alert reached the receiver (bounded), then return."""
    e, fault = CURRENT.expect, CURRENT.fault_at
    if e is None or e.alert is None or fault is None or not e.required:
        return
    timeout = PAGE_WAIT_S if timeout is None else timeout
    log(f"alerts: holding the fault until {e.alert} is paged (at most {timeout:.0f} s)")
    deadline = time.time() + timeout
    while time.time() < deadline and _first(fault, e.alert, "firing", fault) is None:
        time.sleep(POLL)


def _epoch(ts: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


class AlertWatch:
    def __init__(self, lab: Lab) -> None:
        mon = mon_names.monitoring_host(lab.settings)
        self.url = f"http://{mon.private_ip}:{mon_names.ALERTMANAGER_PORT}/api/v2/alerts?active=true&silenced=false"
        self.started = time.time()
        self.first_active: dict[str, float] = {}  # alertname -> first poll (epoch) it was active, startsAt after start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> AlertWatch:
        self.started = time.time()  # after any wait for a quiet start: alerts older than this are not ours
        self._thread.start()
        return self

    def active(self) -> list[dict[str, Any]] | None:
        try:
            with urllib.request.urlopen(self.url, timeout=3) as r:
                data: list[dict[str, Any]] = json.loads(r.read())
                return data
        except (OSError, ValueError):
            return None

    def _run(self) -> None:
        while not self._stop.is_set():
            fault = CURRENT.fault_at  # an alert that started firing before the fault is not ours
            if fault is not None:
                for a in self.active() or []:
                    name = a["labels"].get("alertname", "?")
                    if name not in self.first_active and _epoch(a["startsAt"]) >= fault - CLOCK_SLACK_S:
                        self.first_active[name] = time.time()
            self._stop.wait(POLL)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass(frozen=True)
class Event:
    """One alert in one notification the receiver got."""

    received: float
    name: str
    status: str | None
    labels: dict[str, str]
    starts_at: float | None  # the alert's startsAt: when Prometheus first sent it firing


def _events(since: float) -> Iterator[Event]:
    """Every alert in the notifications since `since`, oldest first."""
    from scripts.lablib import receiver

    for n in receiver.notifications(since=since):
        for a in n["payload"].get("alerts", []):
            labels = a.get("labels", {})
            starts = a.get("startsAt")
            yield Event(float(n["received"]), labels.get("alertname", "?"), a.get("status"), labels,
                        _epoch(starts) if starts else None)


def _started_since(e: Event, started_after: float | None) -> bool:
    """The alert started firing at `started_after` or later (this machine's clock against the
    monitoring VM's: CLOCK_SLACK_S); always true without a bound."""
    return started_after is None or (e.starts_at is not None and e.starts_at >= started_after - CLOCK_SLACK_S)


def _first(since: float, alert: str, status: str, started_after: float | None = None) -> float | None:
    """When the receiver first got `alert` with `status` after `since`; with `started_after`, only
    an instance that started firing then or later (not one still firing from an earlier fault)."""
    for e in _events(since):
        if e.name == alert and e.status == status and _started_since(e, started_after):
            return e.received
    return None


def pages_since(since: float, started_after: float | None = None) -> list[str]:
    """Alert names of every firing notification the receiver got since `since` (never the Watchdog:
    it goes to the dead man's switch path); with `started_after`, only alerts that started firing
    then or later (a group's later notification still lists an earlier fault's alert: not this
    run's page)."""
    return sorted({e.name for e in _events(since) if e.status == "firing" and _started_since(e, started_after)})


def _last_status(alert: str, per: str | None = None) -> dict[str, tuple[str | None, float]]:
    """Instance (the `per` label's value, "" without one) -> (status, received) of the last
    notification the receiver got that names it."""
    out: dict[str, tuple[str | None, float]] = {}
    for e in _events(0.0):
        if e.name == alert:
            out[e.labels.get(per, "") if per else ""] = (e.status, e.received)
    return out


def _blocking(active: list[dict[str, Any]], alert: str, per: str | None) -> bool:
    """Would a new fault's `alert` go unnotified, or only at a group's next flush, now? Without
    `per`: while any instance is active, or its resolution was not notified or was notified less than
    GROUP_GC_S ago (the emptied group still exists). With `per` (each fault raises an instance named by the new
    primary/master, grouped on its own): while more than one instance is active (one is about to
    resolve), or an inactive instance's resolution was not notified or was notified less than
    GROUP_GC_S ago (its emptied group still exists: a new alert in it waits for the next flush)."""
    mine = [a for a in active if a["labels"].get("alertname") == alert]
    last = _last_status(alert, per)
    now = time.time()
    if per is None:
        st, at = last.get("", (None, 0.0))
        return bool(mine) or st == "firing" or now - at < GROUP_GC_S
    current = {a["labels"].get(per, "") for a in mine}
    return len(current) > 1 or any(
        key not in current and (st == "firing" or now - at < GROUP_GC_S) for key, (st, at) in last.items())


def wait_quiet(watch: AlertWatch, alert: str, per: str | None = None, timeout: float = QUIET_WAIT_S) -> float:
    """Wait (bounded) until a new fault's `alert` would page (`_blocking`): an alert still firing
    from an earlier fault (the failover alerts look back 5 minutes) was notified already, and one
    that fires again before its resolution went out (Alertmanager flushes a group every
    group_interval) matches its notification log - either way a new fault would not page again.
    Returns the seconds waited."""
    t0 = time.time()
    deadline = t0 + timeout
    logged = False
    while time.time() < deadline:
        active = watch.active()
        if active is not None and not _blocking(active, alert, per):
            break
        if not logged:
            log(f"alerts: {alert} from an earlier fault is still active or its resolution not yet "
                f"notified; waiting (at most {timeout:.0f} s)")
            logged = True
        time.sleep(5 * POLL)
    return round(time.time() - t0, 1)


def alert_per(lab: Lab, alert: str) -> str | None:
    """The label Alertmanager groups `alert`'s instances by (the contract's `Alert.per`)."""
    for contract in catalog.contracts(lab.settings):
        for a in contract.alerts:
            if a.name == alert:
                return a.per
    raise KeyError(f"no component defines the alert {alert!r}")


def begin(lab: Lab, expect: Expect) -> AlertWatch:
    """Before a run: the expected alert quiet, the marks reset, watching Alertmanager."""
    CURRENT.expect, CURRENT.fault_at, CURRENT.recovered_at = expect, None, None
    CURRENT.quiet_wait_seconds = 0.0
    watch = AlertWatch(lab)
    if expect.alert is not None:
        CURRENT.quiet_wait_seconds = wait_quiet(watch, expect.alert, alert_per(lab, expect.alert))
    return watch.start()


def evaluate(watch: AlertWatch) -> dict[str, Any]:
    """The alert figures of one run (the drill has returned; waits, bounded, for a resolution)."""
    expect = CURRENT.expect or Expect(None)
    fault, recovered = CURRENT.fault_at, CURRENT.recovered_at
    res: dict[str, Any] = {"expected_alert": expect.alert}
    if CURRENT.quiet_wait_seconds:
        res["alert_quiet_wait_seconds"] = CURRENT.quiet_wait_seconds
    if expect.alert is None:
        watch.stop()
        since = fault or watch.started
        pages = pages_since(since, started_after=since)
        return {**res, "pages": pages, "alert_passed": pages == []}
    if fault is None:
        watch.stop()
        return {**res, "alert_passed": False, "alert_error": "the drill did not mark its fault"}
    if not expect.required:
        time.sleep(PAGE_WAIT_S / 2)  # it may still come
        watch.stop()
        pages = pages_since(fault, started_after=fault)
        return {**res, "pages": pages, "alert_passed": set(pages) <= {expect.alert}}
    deadline = time.time() + PAGE_WAIT_S
    while time.time() < deadline and _first(fault, expect.alert, "firing", fault) is None:
        time.sleep(POLL)
    notified = _first(fault, expect.alert, "firing", fault)
    firing = watch.first_active.get(expect.alert)
    res["alert_firing_seconds"] = round(firing - fault, 1) if firing else None
    res["alert_notified_seconds"] = round(notified - fault, 1) if notified else None
    resolved = None
    if expect.await_resolution and notified and recovered:
        log(f"alerts: waiting for {expect.alert} to resolve")
        deadline = time.time() + RESOLVE_WAIT_S
        while time.time() < deadline and (resolved := _first(recovered, expect.alert, "resolved", fault)) is None:
            time.sleep(POLL)
        res["alert_resolved_seconds"] = round(resolved - recovered, 1) if resolved else None
    watch.stop()
    ok = notified is not None
    if expect.critical:
        ok = ok and notified is not None and notified - fault <= NOTIFY_TARGET_S
        ok = ok and resolved is not None and recovered is not None and resolved - recovered <= RESOLVE_TARGET_S
    res["alert_passed"] = ok
    return res
