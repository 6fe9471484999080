"""PostgresHACluster: registers the cluster's plan (components/postgres/plan.py) and exposes what
other teams and components read: endpoints, per-app credentials, the CA, scrape targets."""

from __future__ import annotations

import functools
from typing import Any

import pulumi

from components.component import PlannedComponent
from components.deploy import Deployment
from components.pki import secret
from components.plan import Plan
from components.postgres import contract, render
from components.postgres.plan import app_password, ready
from components.router.render import REPLICA_PORT, endpoint
from components.settings import Settings


def dsn(db: str, endpoint: str, password: str) -> str:
    """libpq URI through the router; PgBouncer requires TLS (the router passes it through)."""
    return f"postgresql://{db}:{password}@{endpoint}/{db}?sslmode=require"


class PostgresHACluster(PlannedComponent):
    router_endpoint: str
    """host:port of the read-write endpoint (router 5000 -> PgBouncer on the Patroni primary)."""
    replica_endpoint: str
    """host:port of the read-only endpoint (router 5001 -> PgBouncer on the replicas)."""
    pgbouncers: dict[str, str]
    """host name -> ip:6432 of each node's PgBouncer (diagnostics; clients use the router)."""
    apps: dict[str, dict[str, Any]]
    """database -> {database, user, password (secret), dsn (secret)}."""
    ca_certificate: pulumi.Output[str]
    """The internal CA's certificate (PEM): verifies PostgreSQL, PgBouncer, Patroni and etcd."""
    scrape_targets: dict[str, list[str]]
    """job -> its ip:port targets (the contract's scrape jobs, addresses only)."""
    ready: pulumi.Resource
    """The databases step: after it every app database and role exists."""

    def __init__(self, settings: Settings, plan: Plan, deployment: Deployment,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:postgres:PostgresHACluster", settings.postgres.cluster_name, settings, plan,
                         deployment, opts)
        self.ready = self.steps[ready(settings)]
        self.ca_certificate = deployment.ca.cert_pem
        self.router_endpoint = endpoint(settings)
        self.replica_endpoint = endpoint(settings, REPLICA_PORT)
        self.pgbouncers = {h.name: f"{h.private_ip}:{render.PGBOUNCER_PORT}" for h in settings.hosts["postgres"]}
        self.apps = {}
        for db in settings.postgres.databases:
            pw = deployment.passwords[app_password(settings, db)]
            self.apps[db] = {
                "database": db,
                "user": db,
                "password": pw,  # secret (RandomPassword.result wrapped in secret())
                "dsn": secret(pw.apply(functools.partial(dsn, db, self.router_endpoint))),
            }
        self.scrape_targets = {j.job: j.addresses() for j in contract.contract(settings).scrape_jobs}
        self.register_outputs(self.stack_outputs())

    def stack_outputs(self) -> dict[str, Any]:
        return {
            "postgresRouter": self.router_endpoint,
            "postgresRouterReplicas": self.replica_endpoint,
            "postgresPgbouncers": self.pgbouncers,
            "postgresApps": self.apps,
            "postgresCaCertificate": self.ca_certificate,
            "postgresScrapeTargets": self.scrape_targets,
        }


def build(settings: Settings, plan: Plan, deployment: Deployment) -> dict[str, Any]:
    return PostgresHACluster(settings, plan, deployment).stack_outputs()
