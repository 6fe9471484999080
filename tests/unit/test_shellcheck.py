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


# Step scripts (not the libraries they source, which declare `# shellcheck shell=bash`).
STEPS = [s for s in SCRIPTS if "/host/" in str(s) and not s.read_text().startswith("# shellcheck shell=bash")]


def test_no_step_loops_by_hand() -> None:
    """Every wait of a step is bounded through step_lib's wait_until, not a hand-written loop."""
    import re

    loops = [f"{s.relative_to(ROOT)}" for s in STEPS if re.search(r"for _ in \$\(seq ", s.read_text())]
    assert loops == []


@pytest.mark.parametrize("script", STEPS, ids=lambda p: p.name)
def test_host_scripts_are_strict(script: Path) -> None:
    text = script.read_text()
    assert "set -euo pipefail" in text
    assert '. "$STEP_DIR/lib.sh"' in text


OPERATOR_SCRIPTS = [p for p in SCRIPTS
                    if p.parent == ROOT / "scripts" and 'exec "$here/.venv/bin/python"' in p.read_text()]


@pytest.mark.parametrize("script", OPERATOR_SCRIPTS, ids=lambda p: p.name)
def test_operator_scripts_make_their_virtualenv_first(script: Path) -> None:
    """On a fresh clone the README's commands work as they are: each wrapper that runs the
    project's Python creates the virtualenv first (scripts/setup --venv is quick when current)."""
    text = script.read_text()
    assert '"$here/scripts/setup" --venv' in text, script.name
    assert text.index('scripts/setup" --venv') < text.index(".venv/bin/python"), script.name


def test_every_operator_script_is_covered() -> None:
    assert {p.name for p in OPERATOR_SCRIPTS} >= {"lab", "render", "verify", "drill", "bench"}
