"""MariadbCluster: registers MariaDB's plan (components/mariadb/plan.py) and exposes what Mautic
and other teams read: the router endpoint and the Mautic credentials (secret)."""

from __future__ import annotations

from typing import Any

import pulumi

from components.component import PlannedComponent
from components.deploy import Deployment
from components.mariadb import contract
from components.mariadb import names as n
from components.plan import Plan
from components.settings import Settings


class MariadbCluster(PlannedComponent):
    router_endpoint: str
    """host:port of the router's `mariadb_rw` listener: always one writable node (TLS required)."""
    mautic: pulumi.Output[dict[str, Any]]
    """{user, password, database} for Mautic; secret."""
    scrape_targets: dict[str, list[str]]
    """job -> its ip:port targets (the contract's scrape jobs, addresses only)."""

    def __init__(self, settings: Settings, plan: Plan, deployment: Deployment,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:mariadb:MariadbCluster", settings.mariadb.cluster_name, settings, plan,
                         deployment, opts)
        self.router_endpoint = n.router_endpoint(settings)
        self.scrape_targets = {j.job: j.addresses() for j in contract.contract(settings).scrape_jobs}
        self.mautic = deployment.passwords[n.PASSWORD_APP].apply(
            lambda pw: {"user": n.APP_USER, "password": pw, "database": n.DATABASE})
        self.register_outputs(self.stack_outputs())

    def stack_outputs(self) -> dict[str, Any]:
        return {
            "mariadbRouter": self.router_endpoint,
            "mariadbMautic": self.mautic,
            "mariadbScrapeTargets": self.scrape_targets,
        }


def build(settings: Settings, plan: Plan, deployment: Deployment) -> dict[str, Any]:
    if not settings.mariadb.enabled:
        return {}
    return MariadbCluster(settings, plan, deployment).stack_outputs()
