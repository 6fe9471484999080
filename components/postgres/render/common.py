"""Helpers every PostgreSQL renderer uses."""

from __future__ import annotations

import yaml


def _dump(data: object, header: str) -> str:
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=120)
    return f"# {header}\n# Rendered by the platform program (components/postgres/render.py); do not edit.\n{body}"
