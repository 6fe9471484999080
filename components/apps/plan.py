"""The apps' plan: no host steps (everything runs in K3s), the generated admin passwords. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from components.apps import names as n
from components.contract import Contract
from components.plan import Plan
from components.settings import Settings


def plan(settings: Settings, contracts: Sequence[Contract]) -> Plan:
    return Plan(passwords=tuple(n.admin_password(a) for a in settings.enabled_apps()))
