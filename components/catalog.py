"""The platform's components, in registration order: one line each. Pure: no Pulumi imports.

A component is a folder with a pure `contract(settings)` (components/contract.py), a pure
`plan(settings, contracts)` (components/plan.py) and, on the Pulumi side, `build(settings, plan,
deployment) -> stack outputs` in its `component.py`. The composition (components/platform.py),
`scripts/render` and `scripts/verify` read the components from this list and nothing else.
Order matters only in that a plan's steps may run after steps of components listed before it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from components.apps import contract as apps_contract
from components.apps import plan as apps_plan
from components.baseline import contract as baseline_contract
from components.baseline import plan as baseline_plan
from components.contract import Contract
from components.k3s import contract as k3s_contract
from components.k3s import plan as k3s_plan
from components.mariadb import contract as mariadb_contract
from components.mariadb import plan as mariadb_plan
from components.monitoring import contract as monitoring_contract
from components.monitoring import plan as monitoring_plan
from components.plan import Plan
from components.postgres import contract as postgres_contract
from components.postgres import plan as postgres_plan
from components.redis import contract as redis_contract
from components.redis import plan as redis_plan
from components.router import contract as router_contract
from components.router import plan as router_plan
from components.settings import Host, Settings


@dataclass(frozen=True)
class ComponentDef:
    name: str
    contract: Callable[[Settings], Contract]
    plan: Callable[[Settings, Sequence[Contract]], Plan]
    module: str  # its Pulumi side: `build(settings, plan, deployment)`


CATALOG: tuple[ComponentDef, ...] = (
    ComponentDef("baseline", baseline_contract.contract, baseline_plan.plan, "components.baseline.component"),
    ComponentDef("postgres", postgres_contract.contract, postgres_plan.plan, "components.postgres.component"),
    ComponentDef("redis", redis_contract.contract, redis_plan.plan, "components.redis.component"),
    ComponentDef("mariadb", mariadb_contract.contract, mariadb_plan.plan, "components.mariadb.component"),
    ComponentDef("router", router_contract.contract, router_plan.plan, "components.router.component"),
    ComponentDef("monitoring", monitoring_contract.contract, monitoring_plan.plan, "components.monitoring.component"),
    ComponentDef("k3s", k3s_contract.contract, k3s_plan.plan, "components.k3s.component"),
    ComponentDef("apps", apps_contract.contract, apps_plan.plan, "components.apps.component"),
)


def contracts(settings: Settings) -> list[Contract]:
    return [c.contract(settings) for c in CATALOG]


def plans(settings: Settings) -> dict[str, Plan]:
    cs = contracts(settings)
    return {c.name: c.plan(settings, cs) for c in CATALOG}


def host_groups(settings: Settings) -> dict[str, tuple[Host, ...]]:
    """Every host group a ServicePort may name: the inventory's and the components'."""
    from components.contract import all_groups

    return {**settings.hosts.groups(), **all_groups(contracts(settings))}
