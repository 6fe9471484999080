"""5-field cron expressions -> systemd `OnCalendar=` values. Pure; no settings import.

Timers run on every Redis VM without cron installed (systemd is there anyway), and a timer's
`Persistent=true` catches up a run missed while the VM was off. Supported per field: `*`, numbers,
lists (`1,15`), ranges (`1-5`), and steps (`*/15`, `0-30/10`); day-of-week as 0-7 or names.
"""

from __future__ import annotations

import re

DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_NAMES = {d.lower(): i for i, d in enumerate(DAYS[:7])}
_LIMITS = {"minute": (0, 59), "hour": (0, 23), "day": (1, 31), "month": (1, 12), "weekday": (0, 7)}


def _num(field: str, text: str) -> int:
    lo, hi = _LIMITS[field]
    if field == "weekday" and text.lower()[:3] in _NAMES:
        return _NAMES[text.lower()[:3]]
    if not re.fullmatch(r"\d+", text) or not lo <= int(text) <= hi:
        raise ValueError(f"{field} {text!r} is not a number in {lo}-{hi}")
    return int(text)


def _part(field: str, text: str) -> str:
    """One comma-separated item of a field, in systemd syntax."""
    base, _, step = text.partition("/")
    if step and not re.fullmatch(r"[1-9]\d*", step):
        raise ValueError(f"{field} step {step!r} must be a positive number")
    lo, hi = _LIMITS[field]
    if field == "weekday":
        if step:
            raise ValueError("day-of-week steps are not supported")
        if base == "*":
            return ""
        if "-" in base:
            a, b = (_num(field, x) for x in base.split("-", 1))
            return f"{DAYS[a]}..{DAYS[b]}"
        return DAYS[_num(field, base)]
    if base == "*":
        start, end = lo, None
    elif "-" in base:
        a, b = (_num(field, x) for x in base.split("-", 1))
        if a > b:
            raise ValueError(f"{field} range {base!r} runs backwards")
        start, end = a, b
    else:
        start, end = _num(field, base), None
    width = 2 if field in ("minute", "hour", "day", "month") else 1
    if step:
        if end is not None:
            # systemd has no "a..b/n"; spell the values out.
            return ",".join(f"{v:0{width}d}" for v in range(start, end + 1, int(step)))
        return f"{start:0{width}d}/{step}"
    if base == "*":
        return "*"
    if end is not None:
        return f"{start:0{width}d}..{end:0{width}d}"
    return f"{start:0{width}d}"


def _field(field: str, text: str) -> str:
    parts = [_part(field, p) for p in text.split(",")]
    if field == "weekday" and "" in parts:
        return ""
    return ",".join(parts)


def cron_to_oncalendar(expr: str) -> str:
    """`30 2 * * *` -> `*-*-* 02:30:00`; raises ValueError for what it cannot translate."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"{expr!r} does not have 5 fields")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        # cron ORs the two; systemd ANDs them. Refuse rather than run at other times than meant.
        raise ValueError("set either day-of-month or day-of-week, not both")
    wd = _field("weekday", weekday)
    date = f"*-{_field('month', month)}-{_field('day', day)}"
    time = f"{_field('hour', hour)}:{_field('minute', minute)}:00"
    return f"{wd + ' ' if wd else ''}{date} {time}"


# --- when a schedule fires ---------------------------------------------------------------------

_FIELDS = ("minute", "hour", "day", "month", "weekday")


def _values(field: str, text: str) -> set[int]:
    """The values a cron field matches (`*`, numbers, names of days, lists, ranges, `*/n`, `a-b/n`)."""
    lo, hi = _LIMITS[field]
    out: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and not re.fullmatch(r"[1-9]\d*", step):
            raise ValueError(f"{field} step {step!r} must be a positive number")
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            start, end = (_num(field, x) for x in base.split("-", 1))
        else:
            start = end = _num(field, base)
            if step:
                end = hi
        if start > end:
            raise ValueError(f"{field} range {base!r} runs backwards")
        out.update(range(start, end + 1, int(step or 1)))
    if field == "weekday" and 7 in out:
        out = (out - {7}) | {0}
    return out


def fire_times(expr: str, start: int, end: int) -> list[int]:
    """Epoch seconds (UTC, on the minute) in [start, end) at which cron runs `expr`. Cron's rule for
    day-of-month and day-of-week: when both are restricted, either may match."""
    import datetime as dt

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"{expr!r} does not have 5 fields")
    minute, hour, day, month, weekday = (_values(f, t) for f, t in zip(_FIELDS, fields, strict=True))
    day_any, weekday_any = fields[2] == "*", fields[4] == "*"
    out = []
    day0 = start - start % 86400
    for midnight in range(day0, end, 86400):
        d = dt.datetime.fromtimestamp(midnight, dt.UTC)
        wd = (d.weekday() + 1) % 7  # cron: 0 = Sunday
        day_ok = (d.day in day and wd in weekday) if (day_any or weekday_any) else (d.day in day or wd in weekday)
        if not (day_ok and d.month in month):
            continue
        out += [t for h in sorted(hour) for m in sorted(minute) if start <= (t := midnight + h * 3600 + m * 60) < end]
    return out


def max_interval_seconds(*exprs: str, horizon_days: int = 35) -> int:
    """The longest time between two consecutive runs of any of `exprs` together, over `horizon_days`
    from 2026-01-01 (UTC): how stale the newest result of those schedules may be when all is well."""
    start = 1767225600  # 2026-01-01T00:00:00Z
    end = start + horizon_days * 86400
    times = sorted({t for e in exprs for t in fire_times(e, start, end)})
    if len(times) < 2:
        raise ValueError(f"{' / '.join(exprs)} runs less than twice in {horizon_days} days")
    return max(b - a for a, b in zip(times, times[1:], strict=False))
