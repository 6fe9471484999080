"""What every ComponentResource of the platform shares: one signature and one way to register.

    Component(settings, plan, deployment, opts=None)

`plan` is the component's pure plan (components/plan.py), `deployment` what the composition has
registered so far (components/deploy.py): the steps and buckets a plan runs after, by name, the
generated passwords, the internal CA. `stack_outputs()` returns the component's stack outputs.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.deploy import Deployment
from components.plan import Plan
from components.settings import Settings


class PlannedComponent(pulumi.ComponentResource):
    steps: dict[str, pulumi.Resource]
    """Every step the component registered, by name (depend on a specific one, not the component)."""

    def __init__(self, type_: str, name: str, settings: Settings, plan: Plan, deployment: Deployment,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_, name, None, opts)
        self.settings = settings
        self.steps = deployment.register(plan, parent=self)

    def stack_outputs(self) -> dict[str, Any]:
        return {}
