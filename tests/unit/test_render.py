"""scripts/render: deterministic, complete, and free of secret values."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.program import PLACEHOLDER_SECRETS
from scripts.render import render


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("stack", ["mvp", "prod-ha"])
def test_render_is_deterministic_and_has_no_secrets(stack: str, tmp_path: Path) -> None:
    assert render(stack, tmp_path / "a") == 0
    assert render(stack, tmp_path / "b") == 0
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert a == b
    assert "resources.txt" in a and "outputs.json" in a
    assert any(k.endswith("/step.sh") for k in a)
    assert "hosts/db-1/db-1-firewall/files/platform.nft" in a
    for name, content in a.items():
        for secret in PLACEHOLDER_SECRETS.values():
            assert secret.encode() not in content, f"{secret} in {name}"
