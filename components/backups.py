"""The backups report's judgement and layout (pure; `scripts/backups` collects the facts).

Per data store the stack runs: its newest backup, that backup's age against the store's schedule
(OK within the schedule's longest gap plus the grace its alert uses, LATE after it, MISSING when
there is none), its size, the retention in force, and the last restore drill's result and date
(the drills write `drills/<store>.json` into the backups bucket: `drill_record`)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

OK, LATE, MISSING, OFF = "OK", "LATE", "MISSING", "OFF"
DRILLS_PREFIX = "drills/"
# The restore drill of each store (scripts/drill NAME), whose result the report shows.
RESTORE_DRILLS = {"pg-restore": "postgres", "redis-restore": "redis", "mariadb-restore": "mariadb"}


@dataclass(frozen=True)
class StoreReport:
    store: str
    status: str  # OK | LATE | MISSING | OFF
    newest: str | None  # the newest backup's name
    newest_at: float | None  # its time (epoch seconds)
    age_seconds: float | None
    max_age_seconds: int | None
    size_bytes: int | None
    retention: str
    last_drill: dict[str, Any] | None  # drill_record() as written by the drill
    detail: str = ""


def judge(newest_at: float | None, now: float, max_age: int) -> tuple[str, float | None]:
    if newest_at is None:
        return MISSING, None
    age = max(0.0, now - newest_at)
    return (OK if age <= max_age else LATE), age


def report(store: str, newest: tuple[float, str, int] | None, now: float, max_age: int, retention: str,
           last_drill: dict[str, Any] | None, detail: str = "") -> StoreReport:
    status, age = judge(newest[0] if newest else None, now, max_age)
    return StoreReport(store, status, newest[1] if newest else None, newest[0] if newest else None, age, max_age,
                       newest[2] if newest else None, retention, last_drill, detail)


def off(store: str, why: str) -> StoreReport:
    return StoreReport(store, OFF, None, None, None, None, None, "-", None, why)


def failing(reports: Sequence[StoreReport]) -> list[str]:
    return [r.store for r in reports if r.status in (LATE, MISSING)]


def drill_record(drill: str, summary: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """What a restore drill writes to `drills/<store>.json`."""
    at = time.time() if now is None else now
    runs = int(summary.get("runs") or 0)
    return {"drill": drill, "store": RESTORE_DRILLS[drill], "passed": bool(summary.get("passed")),
            "runs": runs, "passed_runs": runs - len(summary.get("failed_runs") or []),
            "median_seconds": summary.get("median_seconds"), "at": at,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))}


def _human(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)


def table(reports: Sequence[StoreReport]) -> str:
    head = ("store", "status", "newest", "age", "limit", "size", "retention", "last restore drill")
    rows = [head]
    for r in reports:
        drill = "-" if not r.last_drill else \
            f"{'passed' if r.last_drill.get('passed') else 'FAILED'} {r.last_drill.get('date', '?')}"
        rows.append((r.store, r.status, r.newest or (r.detail if r.status == OFF else "-"), _human(r.age_seconds),
                     _human(r.max_age_seconds), _size(r.size_bytes), r.retention, drill))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def as_json(reports: Sequence[StoreReport]) -> str:
    return json.dumps({"stores": [asdict(r) for r in reports], "failing": failing(reports)}, sort_keys=True)
