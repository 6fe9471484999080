"""`monitoring-quiet`: on a converged lab, nothing but the Watchdog fires for N minutes
(`scripts/drill monitoring-quiet --stack lab --minutes N`, 10 by default).

Alerts still active from an earlier drill (a failover is reported for 5 minutes) are waited out
first, bounded; then Alertmanager is polled every 5 s and the lab receiver's notifications are read:
any alert other than the Watchdog, active or sent, fails the run."""

from __future__ import annotations

import time
from typing import Any

from scripts.drills import alerts
from scripts.drills.common import Lab, drill, log

SETTLE_TIMEOUT = 420.0
POLL = 5.0


def _others(watch: alerts.AlertWatch) -> list[str] | None:
    active = watch.active()
    if active is None:
        return None
    return sorted({a["labels"].get("alertname", "?") for a in active} - {"Watchdog"})


@drill("monitoring-quiet")
def quiet(lab: Lab) -> dict[str, Any]:
    minutes = float(lab.options.get("minutes", 10))
    watch = alerts.AlertWatch(lab)
    t0 = time.time()
    settle_deadline = t0 + SETTLE_TIMEOUT
    left = _others(watch)
    while (left is None or left) and time.time() < settle_deadline:
        time.sleep(POLL)
        left = _others(watch)
    settled = round(time.time() - t0, 1)
    if left is None or left:
        return {"seconds": None, "acked_lost": 0, "passed": False, "settle_seconds": settled,
                "error": f"alerts still active after {SETTLE_TIMEOUT:.0f} s: {left}" if left else
                "Alertmanager does not answer"}
    log(f"monitoring-quiet: no alert but the Watchdog; observing for {minutes:g} min")
    alerts.mark_fault()  # the start of the quiet window ("fault": none)
    start = time.time()
    seen: set[str] = set()
    watchdog = False
    while time.time() < start + minutes * 60:
        active = watch.active() or []
        names = {a["labels"].get("alertname", "?") for a in active}
        watchdog = watchdog or "Watchdog" in names
        seen |= names - {"Watchdog"}
        time.sleep(POLL)
    pages = alerts.pages_since(start)
    from scripts.lablib import receiver

    deadman = receiver.notifications(start, alerts.DEADMAN)
    return {
        "seconds": round(time.time() - start, 1), "acked_lost": 0, "settle_seconds": settled,
        "minutes": minutes, "alerts_seen": sorted(seen), "pages": pages, "watchdog_active": watchdog,
        "deadmans_switch_notifications": len(deadman),
        "passed": not seen and not pages and watchdog,
    }
