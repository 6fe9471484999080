"""Router: registers the router's plan (components/router/plan.py): one step per edge VM with
`router.placement: vms`, none in K3s placement (the K3s component deploys the same config)."""

from __future__ import annotations

from typing import Any

import pulumi

from components.component import PlannedComponent
from components.deploy import Deployment
from components.plan import Plan
from components.router import render
from components.settings import Settings


class Router(PlannedComponent):
    endpoint: str
    """host:port of the PostgreSQL primary listener (5000)."""
    replica_endpoint: str
    """host:port of the PostgreSQL replicas listener (5001)."""
    ready: list[pulumi.Resource]
    """The router steps (empty in K3s placement)."""

    def __init__(self, settings: Settings, plan: Plan, deployment: Deployment,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:router:Router", "router", settings, plan, deployment, opts)
        self.endpoint = render.endpoint(settings)
        self.replica_endpoint = render.endpoint(settings, render.REPLICA_PORT)
        self.ready = list(self.steps.values())
        self.register_outputs({"endpoint": self.endpoint, "replicaEndpoint": self.replica_endpoint})


def build(settings: Settings, plan: Plan, deployment: Deployment) -> dict[str, Any]:
    Router(settings, plan, deployment)
    return {}
