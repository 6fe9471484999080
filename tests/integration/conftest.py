"""One lab per test session: `scripts/lab up` (prepare, boot, apply the `lab` stack, verify) before
the first integration test, `scripts/lab down` after the last, with a check that nothing is left.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "scripts" / "lab"


def lab(*args: str, timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess[str]:
    cp = subprocess.run([str(LAB), *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check:
        assert cp.returncode == 0, f"scripts/lab {' '.join(args)} failed:\n{cp.stdout[-6000:]}\n{cp.stderr[-4000:]}"
    return cp


def last_json(text: str) -> dict[str, Any]:
    line = text.strip().splitlines()[-1]
    return json.loads(line)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def lab_up() -> Iterator[dict[str, Any]]:
    """The applied and verified lab; yields the JSON summary of the first `scripts/lab up`."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (systemd-nspawn, network namespaces)")
    first = lab("up", timeout=3000, check=False)
    print(first.stdout[-4000:])
    try:
        assert first.returncode == 0, f"scripts/lab up failed:\n{first.stdout[-8000:]}\n{first.stderr[-4000:]}"
        yield last_json(first.stdout)
    finally:
        from tests.integration.leftovers import leftovers

        lab("down", timeout=600)
        assert leftovers() == []
