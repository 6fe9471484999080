"""The router's steps: with `router.placement: vms`, `<edge>-router` on each edge VM (HAProxy with
the rendered haproxy.cfg: the PostgreSQL listeners plus every component's router listener); with
`k3s` none (the K3s component deploys the same configuration). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from components.baseline.plan import ready_step
from components.contract import Contract
from components.plan import CaCert, Plan, SecretValue, Step
from components.router import render
from components.settings import Settings

HOST_DIR = Path(__file__).parent / "host"


def haproxy_config(settings: Settings, contracts: Sequence[Contract], in_cluster: bool = False) -> str:
    return render.render_haproxy(settings, [lst.section for c in contracts for lst in c.router_listeners],
                                 in_cluster=in_cluster)


def listener_secrets(contracts: Sequence[Contract]) -> dict[str, SecretValue]:
    return {k: v for c in contracts for lst in c.router_listeners for k, v in lst.secrets.items()}


def plan(settings: Settings, contracts: Sequence[Contract]) -> Plan:
    if settings.router.placement != "vms":
        return Plan()
    config = haproxy_config(settings, contracts)
    return Plan(steps=tuple(
        Step(name=f"{h.name}-router", host=h, script=HOST_DIR / "router.sh",
             files={"haproxy.cfg": config, "platform-ca.pem": CaCert(),
                    "haproxy.default": render.render_defaults(h.private_ip)},
             secrets=listener_secrets(contracts), after=(ready_step(h),))
        for h in render.router_hosts(settings)
    ))
