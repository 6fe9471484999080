"""What a lab plan and apply produce (scripts/lablib/apply.py): the plan's entries with their
operation and changed files, each step's result, and the report the CLI prints and summarises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scripts.lablib import plan as lplan

COMMAND = lplan.COMMAND


class StepFailed(RuntimeError):
    pass


@dataclass
class StepResult:
    name: str
    host: str
    status: str  # "changed" | "unchanged" | "failed"
    detail: str
    seconds: float
    op: str = ""  # the operation it ran for: create | update | replace | delete | same (--rerun-all)


@dataclass
class PlanEntry:
    urn: str
    type: str
    name: str
    host: str
    op: str
    paths: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    reason: str = ""

    def line(self) -> str:
        kind = "step" if self.type == COMMAND else self.type.split(":")[0] if ":" in self.type else self.type
        if self.type.startswith("platform:"):
            kind = "component"
        elif self.type.startswith("pulumi:providers:"):
            kind = "provider"
        what = ", ".join(self.files) if self.files else ", ".join(self.paths)
        extra = "; ".join(x for x in (what, self.reason) if x)
        where = f" ({self.host})" if self.host else ""
        return f"  {lplan.SYMBOL[self.op]:<2} {self.op:<8} {kind:<9} {self.name}{where}{'  ' + extra if extra else ''}"


@dataclass
class Plan:
    entries: list[PlanEntry] = field(default_factory=list)  # registered resources, in registration order

    def counts(self) -> dict[str, int]:
        return {op: sum(1 for e in self.entries if e.op == op) for op in lplan.OPS}

    def changes(self) -> dict[str, str]:
        return {e.name: e.op for e in self.entries if e.op != "same"}

    def files(self) -> dict[str, list[str]]:
        return {e.name: e.files for e in self.entries if e.op != "same" and e.type == COMMAND and e.files}

    def lines(self) -> list[str]:
        order = {op: i for i, op in enumerate(("delete", "replace", "update", "create"))}
        shown = sorted((e for e in self.entries if e.op != "same"), key=lambda e: (order[e.op], e.name))
        return [e.line() for e in shown]

    def summary(self) -> dict[str, Any]:
        return {**self.counts(), "plan": self.changes(), "files": self.files()}


@dataclass
class ApplyReport:
    plan: Plan = field(default_factory=Plan)
    steps: list[StepResult] = field(default_factory=list)  # commands performed
    done: dict[str, str] = field(default_factory=dict)  # urn -> what apply did (an op)
    seconds: float = 0.0
    error: str | None = None
    rerun_all: bool = False
    state_file: str = ""

    @property
    def changed(self) -> int:
        return sum(1 for s in self.steps if s.status == "changed")

    @property
    def failed(self) -> int:
        return sum(1 for s in self.steps if s.status == "failed") + (
            1 if self.error and not any(s.status == "failed" for s in self.steps) else 0
        )

    def counts(self) -> dict[str, int]:
        ops = list(self.done.values())
        return {
            "same": ops.count("same"),
            "created": ops.count("create"),
            "updated": ops.count("update"),
            "replaced": ops.count("replace"),
            "deleted": ops.count("delete"),
        }

    def ran(self) -> list[str]:
        return sorted(s.name for s in self.steps if s.status != "failed")
