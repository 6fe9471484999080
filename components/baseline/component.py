"""HostBaseline: one ComponentResource per VM, holding its baseline and firewall steps."""

from __future__ import annotations

from typing import Any

import pulumi

from components.baseline.plan import ready_step
from components.deploy import Deployment
from components.plan import Plan
from components.settings import Host, Settings


class HostBaseline(pulumi.ComponentResource):
    ready: pulumi.Resource
    """The firewall step: after it the host has its baseline and firewall."""

    def __init__(self, settings: Settings, host: Host, plan: Plan, deployment: Deployment,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:baseline:HostBaseline", host.name, None, opts)
        self.host = host
        steps = deployment.register(plan, parent=self, steps=plan.on(host.name))
        self.ready = steps[ready_step(host)]
        self.register_outputs({"ready": self.ready.id})  # type: ignore[attr-defined]


def build(settings: Settings, plan: Plan, deployment: Deployment) -> dict[str, Any]:
    baselines = [HostBaseline(settings, h, plan, deployment) for h in settings.hosts.all()]
    return {"baselineReady": sorted(b.host.name for b in baselines)}
