"""The program applied to the lab for real: every verify line passes; a second `up` performs no
command at all (the engine's semantics: nothing changed, nothing runs); `up --rerun-all` runs every
step again and each one reports unchanged (the scripts' own idempotency)."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.program import run_program
from tests.integration.conftest import lab, last_json
from tests.unit.helpers import config

pytestmark = pytest.mark.integration

# The lab stack's steps (command:remote:Command resources), counted from the program itself.
STEPS = sum(1 for r in run_program("lab", config("lab")).records if r.type == "command:remote:Command")


def test_first_up_applies_and_verifies(lab_up: dict[str, Any]) -> None:
    assert lab_up["failed"] == 0
    assert lab_up["verify_failed"] == 0
    assert lab_up["verify_passed"] > 0
    assert lab_up["created"] + lab_up["updated"] + lab_up["replaced"] + lab_up["same"] > 0


def test_second_up_performs_zero_commands(lab_up: dict[str, Any]) -> None:
    preview = last_json(lab("preview", timeout=300).stdout)
    assert preview["plan"] == {} and preview["create"] == preview["update"] == preview["replace"] == 0, preview
    again = lab("up", timeout=1200, check=False)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    summary = last_json(again.stdout)
    assert summary["steps"] == 0 and summary["ran"] == [] and summary["plan"] == {}, summary
    assert (summary["created"], summary["updated"], summary["replaced"], summary["deleted"]) == (0, 0, 0, 0)
    assert summary["same"] == preview["same"] > STEPS
    assert "apply: 0 commands performed" in again.stdout
    assert summary["verify_failed"] == 0


def test_rerun_all_runs_every_step_and_each_is_unchanged(lab_up: dict[str, Any]) -> None:
    again = lab("up", "--rerun-all", timeout=1200, check=False)
    summary = last_json(again.stdout)
    changed = [ln for ln in again.stdout.splitlines() if "] " in ln and " changed: " in ln]
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert summary["steps"] == STEPS and len(summary["ran"]) == STEPS, summary
    assert summary["changed"] == 0, "\n".join(changed)
    assert summary["verify_failed"] == 0
