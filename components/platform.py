"""Composition of the whole platform from settings; `__main__.py` only exports what this returns.

Kept apart from `__main__.py` so the tests, `scripts/render` and the lab run exactly the same
composition under mocks. The components come from one list (components/catalog.py): their
contracts first (the firewall matrix, held packages and router listeners need all of them), then
each plan is registered in order.
"""

from __future__ import annotations

import importlib
from typing import Any

from components import catalog
from components.contract import scrape_jobs
from components.deploy import Deployment
from components.pki import InternalCA
from components.settings import Settings
from components.storage import Storage


def scrape_targets_output(settings: Settings) -> list[dict[str, Any]]:
    """Every component's scrape jobs, for monitoring outside this stack (the `scrapeTargets` output)."""
    out = []
    for j in scrape_jobs(catalog.contracts(settings)):
        job: dict[str, Any] = {"job": j.job, "scheme": j.scheme, "path": j.path,
                               "targets": [{"address": t.address, "labels": dict(t.labels)} for t in j.targets]}
        if j.tls_ca:
            job["tlsCa"] = j.tls_ca
            job["clientCert"] = j.client_cert
        out.append(job)
    return out


def build_platform(settings: Settings) -> dict[str, Any]:
    contracts = catalog.contracts(settings)
    ca = InternalCA("platform-ca", f"platform {settings.stack} internal CA")
    storage = Storage(settings, contracts)
    deployment = Deployment(settings, ca, storage.buckets)
    outputs: dict[str, Any] = {}
    for c in catalog.CATALOG:
        component = importlib.import_module(c.module)
        built = component.build(settings, c.plan(settings, contracts), deployment)
        outputs.update(built)
        deployment.outputs.update(built)
    return outputs | {
        "s3Endpoint": settings.s3.endpoint,
        "buckets": {k: b.bucket for k, b in storage.buckets.items()},
        "preset": settings.preset,
        "hosts": {
            h.name: {"role": h.role, "privateIp": h.private_ip, "publicIp": h.public_ip}
            for h in settings.hosts.all()
        },
        "sshUser": settings.ssh.user,
        "scrapeTargets": scrape_targets_output(settings),
    }
