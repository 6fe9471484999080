"""The program applied to the lab for real: every verify line passes, a second apply changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import lab, last_json

pytestmark = pytest.mark.integration


def test_first_up_applies_and_verifies(lab_up: dict[str, Any]) -> None:
    assert lab_up["failed"] == 0
    assert lab_up["verify_failed"] == 0
    assert lab_up["verify_passed"] > 0
    assert lab_up["steps"] > 0


def test_second_up_changes_nothing(lab_up: dict[str, Any]) -> None:
    again = lab("up", timeout=1200, check=False)
    summary = last_json(again.stdout)
    changed = [ln for ln in again.stdout.splitlines() if "] " in ln and " changed: " in ln]
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert summary["changed"] == 0, "\n".join(changed)
    assert summary["steps"] == lab_up["steps"]
    assert summary["verify_failed"] == 0
