"""What the apps offer the platform: their verify lines. Their ports are Services in K3s, not VM
ports; their URLs are stack outputs (`appProbeTargets` for blackbox probes). Pure."""

from __future__ import annotations

from components.contract import Contract
from components.settings import Settings


def contract(settings: Settings) -> Contract:
    return Contract(name="apps", checks="components.apps.checks")
