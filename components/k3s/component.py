"""K3sCluster: registers the K3s plan (components/k3s/plan.py) and exposes the API endpoint.
The kubeconfig read-back and the `kubernetes.Provider` come with the next part of the issue."""

from __future__ import annotations

from typing import Any

import pulumi

from components.component import PlannedComponent
from components.deploy import Deployment
from components.k3s import names as n
from components.k3s.plan import step_name
from components.plan import Plan
from components.settings import Settings


class K3sCluster(PlannedComponent):
    api_endpoint: str
    """https://<k3s.apiEndpoint>:6443, the address every server certificate carries."""
    ready: pulumi.Resource
    """The last server's step: after it every server is Ready (depend on this, not the component)."""

    def __init__(self, settings: Settings, plan: Plan, deployment: Deployment,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:k3s:K3sCluster", "k3s", settings, plan, deployment, opts)
        self.api_endpoint = n.api_url(settings.k3s.api_endpoint)
        self.ready = self.steps[step_name(n.servers(settings)[-1])]
        self.register_outputs(self.stack_outputs())

    def stack_outputs(self) -> dict[str, Any]:
        return {"k3sApiEndpoint": self.api_endpoint}


def build(settings: Settings, plan: Plan, deployment: Deployment) -> dict[str, Any]:
    if not settings.k3s.enabled:
        return {}
    return K3sCluster(settings, plan, deployment).stack_outputs()
