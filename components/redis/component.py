"""RedisSentinelCluster: registers the cluster's plan (components/redis/plan.py) and exposes what
clients read: the Sentinels, the master name, the router endpoint, per-app ACL credentials."""

from __future__ import annotations

from typing import Any

import pulumi

from components.component import PlannedComponent
from components.deploy import Deployment
from components.plan import Plan
from components.redis import contract, render
from components.redis.plan import app_password
from components.settings import Settings


class RedisSentinelCluster(PlannedComponent):
    sentinels: list[str]
    """Every Sentinel's ip:26379 (Sentinel-aware clients use these with `master_name`)."""
    master_name: str
    """The Sentinel master name (`redis.masterName`)."""
    router_endpoint: str
    """host:port of the router's Redis listener: always the current master."""
    apps: pulumi.Output[dict[str, Any]]
    """app -> {user, password, keyPrefix}; secret."""
    scrape_targets: dict[str, list[str]]
    """job -> its ip:port targets (the contract's scrape jobs, addresses only)."""
    ready: list[pulumi.Resource]
    """The Sentinel steps: after them the master and its Sentinels are up."""

    def __init__(self, settings: Settings, plan: Plan, deployment: Deployment,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:redis:RedisSentinelCluster", settings.redis.master_name, settings, plan,
                         deployment, opts)
        r = settings.redis
        self.ready = [s for name, s in self.steps.items() if name.endswith("-sentinel")]
        self.sentinels = render.sentinel_addresses(settings)
        self.master_name = r.master_name
        self.router_endpoint = render.router_endpoint(settings)
        self.scrape_targets = {j.job: j.addresses() for j in contract.contract(settings).scrape_jobs}
        passwords = [deployment.passwords[app_password(a)] for a in r.apps]
        self.apps = pulumi.Output.all(*passwords).apply(
            lambda pws: {
                app: {"user": app, "password": pw, "keyPrefix": render.key_prefix(app)}
                for app, pw in zip(r.apps, pws, strict=True)
            })
        self.register_outputs(self.stack_outputs())

    def stack_outputs(self) -> dict[str, Any]:
        return {
            "redisSentinels": self.sentinels,
            "redisMasterName": self.master_name,
            "redisRouter": self.router_endpoint,
            "redisApps": self.apps,
            "redisScrapeTargets": self.scrape_targets,
        }


def build(settings: Settings, plan: Plan, deployment: Deployment) -> dict[str, Any]:
    return RedisSentinelCluster(settings, plan, deployment).stack_outputs()
