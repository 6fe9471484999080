"""Every host script (and the shared step library) is shellcheck-clean."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(ROOT.glob("components/**/host/*.sh")) + sorted(ROOT.glob("components/**/files/*.sh")) + [
    ROOT / "components/step_lib.sh"]
SCRIPTS += sorted(
    p for p in (ROOT / "scripts").glob("*")
    if p.is_file() and p.read_text(errors="ignore").startswith("#!/usr/bin/env bash")
)


def test_there_are_host_scripts() -> None:
    assert len(SCRIPTS) >= 3


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shellcheck(script: Path) -> None:
    assert shutil.which("shellcheck"), "shellcheck is required (apt-get install shellcheck)"
    proc = subprocess.run(["shellcheck", "-x", "-P", str(ROOT), str(script)], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", [s for s in SCRIPTS if "/host/" in str(s)], ids=lambda p: p.name)
def test_host_scripts_are_strict(script: Path) -> None:
    text = script.read_text()
    assert "set -euo pipefail" in text
    assert '. "$STEP_DIR/lib.sh"' in text
