"""Shared machinery of the drills (`scripts/drill NAME --stack lab`).

A drill is a function `fn(lab: Lab) -> dict` registered with `@drill("name")`; it performs one run
and returns at least `seconds` (float or None), `acked_lost` (int) and `passed` (bool). scripts/drill.py
runs it N times, prints one JSON line per run and a summary line last. Progress goes to stderr.
Every wait is bounded; every process started here is waited for or stopped by its PID. The
PostgreSQL clients (psql, pgbench) are in scripts/drills/pg_clients.py.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.checks import Context  # noqa: E402
from components.settings import Host, Settings  # noqa: E402

PATRONI_CONFIG = "/etc/patroni/config.yml"


class Lab:
    """Settings, plain stack outputs and SSH to the hosts of one stack (the lab: also stop/start/veth)."""

    def __init__(self, stack: str) -> None:
        from scripts.verify import make_context

        self.stack = stack
        self.ctx: Context = make_context(stack, None, None)
        self.settings: Settings = self.ctx.settings
        self.outputs: dict[str, Any] = self.ctx.outputs
        self.options: dict[str, Any] = {}  # drill options from the command line (e.g. `minutes`)

    def host(self, name: str) -> Host:
        return self.settings.hosts.by_name(name)

    def run(self, host: str | Host, cmd: str | Sequence[str], stdin: str = "", timeout: float = 30
            ) -> subprocess.CompletedProcess[str]:
        h = self.host(host) if isinstance(host, str) else host
        return self.ctx.run(h, cmd, stdin=stdin, timeout=timeout)

    def sudo(self, host: str | Host, cmd: str, stdin: str = "", timeout: float = 30
             ) -> subprocess.CompletedProcess[str]:
        h = self.host(host) if isinstance(host, str) else host
        return self.ctx.sudo(h, cmd, stdin=stdin, timeout=timeout)

Drill = Callable[[Lab], dict[str, Any]]

REGISTRY: dict[str, Drill] = {}


@dataclass(frozen=True)
class Expect:
    """The alert a drill's fault must raise (scripts/drills/alerts.py)."""

    alert: str | None  # None: the fault must page nobody
    critical: bool = False  # notified <= 60 s after the fault and resolved <= 120 s after recovery, or failed
    await_resolution: bool = False  # wait for the resolution (alerts over a fixed window resolve later)
    required: bool = True  # False: the alert may come (then nothing else may page) or not


# name -> the alert its fault must raise; a drill not listed must page nobody.
EXPECTED_ALERTS: dict[str, Expect] = {}


def drill(name: str, expect: Expect | None = None) -> Callable[[Drill], Drill]:
    """Register a drill under `name` (scripts/drills/__init__.py exposes the registry as DRILLS),
    with the alert its fault must raise."""

    def register(fn: Drill) -> Drill:
        REGISTRY[name] = fn
        if expect is not None:
            EXPECTED_ALERTS[name] = expect
        return fn

    return register


class DrillError(RuntimeError):
    """The drill could not run (precondition, tooling); the run fails with this message."""


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} drill: {msg}", file=sys.stderr, flush=True)


def wait_for(fn: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Call fn until it returns something truthy (returned) or `timeout` seconds pass (None)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = fn()
        except Exception as e:  # noqa: BLE001 - a probe that raises is a probe that failed
            log(f"probe raised {type(e).__name__}: {e}")
            v = None
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def run_local(argv: Sequence[str], env: dict[str, str] | None = None, timeout: float = 10, stdin: str = ""
              ) -> subprocess.CompletedProcess[str]:
    """A local command; a timeout kills it (subprocess kills its own child by PID) and gives 124."""
    try:
        return subprocess.run(list(argv), input=stdin, text=True, capture_output=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return subprocess.CompletedProcess(list(argv), 124, out, f"timed out after {timeout}s")


def median(values: Sequence[float]) -> float | None:
    v = sorted(values)
    if not v:
        return None
    n = len(v)
    return round(v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2, 2)


def summarize(name: str, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    secs = [float(r["seconds"]) for r in results if isinstance(r.get("seconds"), int | float)]
    alert: dict[str, Any] = {}
    for key in ("alert_notified_seconds", "alert_resolved_seconds"):
        vals = [float(r[key]) for r in results if isinstance(r.get(key), int | float)]
        if vals:
            alert[key.replace("_seconds", "_median_seconds")] = median(vals)
            alert[key.replace("_seconds", "_max_seconds")] = round(max(vals), 1)
    return {
        "drill": name,
        "runs": len(results),
        "median_seconds": median(secs),
        "max_seconds": round(max(secs), 2) if secs else None,
        "seconds": secs,
        "acked_lost_total": sum(int(r.get("acked_lost") or 0) for r in results),
        "failed_runs": [r.get("run") for r in results if not r.get("passed")],
        **alert,
        "passed": bool(results) and all(bool(r.get("passed")) for r in results),
    }


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=False, default=str)


def quote(s: str) -> str:
    return shlex.quote(s)


@dataclass
class Timeline:
    """Named instants of one run (monotonic), reported relative to the fault."""

    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> float:
        self.marks[name] = time.monotonic()
        return self.marks[name]

    def rel(self, base: str) -> dict[str, float]:
        b = self.marks[base]
        return {k: round(v - b, 2) for k, v in self.marks.items() if k != base}
