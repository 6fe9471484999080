"""What every app namespace has (pure): the namespace, its NetworkPolicies (default deny; in from
Traefik only; out to the router, DNS and S3 only), its Ingress and the S3 endpoint as the apps
read it."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from components.apps import names as n
from components.apps.render import kube as k
from components.settings import Settings


@dataclass(frozen=True)
class S3Endpoint:
    host: str
    port: int


def s3_endpoint(settings: Settings) -> S3Endpoint:
    u = urlsplit(settings.s3.endpoint)
    return S3Endpoint(u.hostname or "", u.port or 443)


def s3_egress(settings: Settings) -> k.Obj:
    """Out to the S3 endpoint: its address when it is one; else anywhere but the cluster's own
    networks (a name's addresses are not known here), on its port only."""
    ep = s3_endpoint(settings)
    try:
        ip = ipaddress.ip_address(ep.host)
        return k.ip_egress([f"{ip}/32"], [ep.port])
    except ValueError:
        return k.ip_egress(["0.0.0.0/0"], [ep.port], except_=[settings.k3s.cluster_cidr, settings.k3s.service_cidr])


def issuer(settings: Settings) -> str:
    return f"letsencrypt-{settings.apps.tls_issuer}"


def namespace(app: str) -> k.Obj:
    return k.namespace(app, {**k.app_labels(app), n.LABEL_ROUTER_CLIENT: "true"})


def network_policies(settings: Settings, app: str, web_ports: Sequence[int],
                     services: Sequence[n.RouterService], extra_egress: Sequence[k.Obj] = (),
                     s3: bool = False) -> list[k.Obj]:
    egress = [k.dns_egress(), k.router_egress(services), *extra_egress]
    if s3:
        egress.append(s3_egress(settings))
    return [
        k.default_deny(app),
        k.allow_from_traefik(app, app, web_ports),
        k.egress_policy("egress", app, {n.LABEL_APP: app}, egress),
    ]


def hostname(settings: Settings, app: str) -> str:
    return settings.apps.get(app).hostname


def url(settings: Settings, app: str) -> str:
    return f"https://{hostname(settings, app)}"


def trusted_proxies(settings: Settings) -> list[str]:
    """Who may set X-Forwarded-For towards an app: Traefik's pods (the cluster network)."""
    return [settings.k3s.cluster_cidr]
