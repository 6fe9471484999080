"""The provisioning primitive: bundle format, the bootstrap command, step_lib idempotency.

The bootstrap runs here for real (without sudo, as the test user) on a throwaway step that uses
step_lib's helpers, so quoting, unpacking, secret substitution and the status line are exercised.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from components.remote import bootstrap_command, make_bundle, read_bundle, render_params

SCRIPT = """#!/usr/bin/env bash
set -euo pipefail
. "$STEP_DIR/lib.sh"
put app.conf "$TARGET_DIR/app.conf" 0640 root:root
[ "$(secret db_password)" = 'pa$s "w0rd' ]
if file_changed "$TARGET_DIR/app.conf"; then echo "would restart" >&2; fi
"""


def run_step(bundle: str, env_target: Path) -> subprocess.CompletedProcess[str]:
    # TARGET_DIR reaches the script through params.env, as every parameter does.
    return subprocess.run(
        ["bash", "-c", bootstrap_command("test-step", sudo=False)],
        input=bundle, text=True, capture_output=True, timeout=30,
        env={"PATH": os.environ["PATH"]},
    )


def test_bundle_is_deterministic_and_round_trips() -> None:
    a = make_bundle("echo hi", {"b": "2", "a": "1"}, {"s": "x"})
    b = make_bundle("echo hi", {"a": "1", "b": "2"}, {"s": "x"})
    assert a == b
    content = read_bundle(a)
    assert content["files/a"] == "1" and content["secrets/s"] == "x" and content["step.sh"] == "echo hi"


def test_bootstrap_contains_no_payload() -> None:
    cmd = bootstrap_command("db-1-patroni")
    assert cmd.startswith("sudo -n /bin/bash -c ")
    assert "STEP_ID=db-1-patroni" in cmd


def test_step_installs_substitutes_secrets_and_reports_idempotency(tmp_path: Path) -> None:
    files = {
        "app.conf": "password = {{secret:db_password}}\nuser = app\n",
        "params.env": render_params({"TARGET_DIR": str(tmp_path)}),
    }
    bundle = make_bundle(SCRIPT, files, {"db_password": 'pa$s "w0rd'})
    first = run_step(bundle, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1] == f"platform-step: changed: {tmp_path}/app.conf"
    assert (tmp_path / "app.conf").read_text() == 'password = pa$s "w0rd\nuser = app\n'
    assert oct((tmp_path / "app.conf").stat().st_mode & 0o777) == "0o640"
    assert "would restart" in first.stderr
    second = run_step(bundle, tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == "platform-step: unchanged"
    assert "would restart" not in second.stderr
    # The temporary step directory (holding the secret) is gone.
    assert not list(Path("/tmp").glob("platform-step.*"))


def test_failing_step_reports_no_status_and_exits_non_zero(tmp_path: Path) -> None:
    bundle = make_bundle('#!/usr/bin/env bash\nset -euo pipefail\n. "$STEP_DIR/lib.sh"\ndie "boom"\n', {}, {})
    proc = run_step(bundle, tmp_path)
    assert proc.returncode != 0
    assert "test-step: ERROR: boom" in proc.stderr
    assert "platform-step" not in proc.stdout
