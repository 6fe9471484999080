"""The verification checklist as code: each check prints PASS / FAIL / SKIP with its evidence.

A check is a function `fn(ctx) -> list[Row]` registered with `@check(group, title)`; component
modules (`components/<component>/checks.py`, named by each contract) add their own lines. Checks run from the operator's
machine and reach hosts over SSH as the deploy user, against the lab or real VMs alike.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.settings import Host, Settings

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


@dataclass(frozen=True)
class Row:
    status: str
    subject: str
    evidence: str


@dataclass(frozen=True)
class Check:
    group: str
    title: str
    fn: Callable[[Context], list[Row]]


CHECKS: list[Check] = []


def check(group: str, title: str) -> Callable[[Callable[[Context], list[Row]]], Callable[[Context], list[Row]]]:
    def register(fn: Callable[[Context], list[Row]]) -> Callable[[Context], list[Row]]:
        CHECKS.append(Check(group, title, fn))
        return fn

    return register


@dataclass
class Context:
    """What checks may use: settings, stack outputs (plain values), and SSH to any host."""

    settings: Settings
    outputs: dict[str, Any]
    ssh_argv: Callable[[Host], list[str]]
    timeout: float = 20.0
    notes: dict[str, Any] = field(default_factory=dict)

    def host(self, name: str) -> Host:
        return self.settings.hosts.by_name(name)

    def run(self, host: Host, cmd: str | Sequence[str], stdin: str = "", timeout: float | None = None
            ) -> subprocess.CompletedProcess[str]:
        """Run a command on a host; a timeout becomes exit code 124 instead of an exception."""
        remote = cmd if isinstance(cmd, str) else shlex.join(cmd)
        try:
            return subprocess.run([*self.ssh_argv(host), remote], input=stdin, text=True,
                                  capture_output=True, timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess([remote], 124, "", f"timed out after {timeout or self.timeout}s")

    def sudo(self, host: Host, cmd: str, stdin: str = "", timeout: float | None = None
             ) -> subprocess.CompletedProcess[str]:
        return self.run(host, f"sudo -n bash -c {shlex.quote(cmd)}", stdin=stdin, timeout=timeout)


def first_line(text: str, limit: int = 140) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line[:limit]


def run_checks(ctx: Context, groups: Sequence[str] | None = None) -> list[tuple[Check, Row]]:
    results: list[tuple[Check, Row]] = []
    for c in CHECKS:
        if groups and c.group not in groups:
            continue
        try:
            rows = c.fn(ctx)
        except Exception as e:  # noqa: BLE001 - a broken check is a failed check, with its reason
            rows = [Row(FAIL, "-", f"check raised {type(e).__name__}: {e}")]
        for row in rows:
            results.append((c, row))
            print(f"{row.status:<4}  {c.group:<9} {c.title:<44} {row.subject:<10} {row.evidence}", flush=True)
    return results
