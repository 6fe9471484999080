"""The cluster add-ons as data (pure): the pinned chart versions in one place, each release's
values, and the custom resources that configure them (cert-manager's ClusterIssuers, MetalLB's
address pool and L2 advertisement, the HelmChartConfig that tunes K3s's bundled Traefik). The
Pulumi side (components/k3s/addons.py) registers them on the cluster's provider.

Versions (checked against the projects' release pages in the stored docs, 2026-12-06):
cert-manager v1.20.0 (10 Mar 2026; its docs list Kubernetes 1.32-1.35 as tested), MetalLB 0.15.3
(4 Dec 2025, the newest of the maintained 0.15 line)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import yaml

from components.k3s import names as n
from components.settings import Settings


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repo: str
    namespace: str


CERT_MANAGER = Chart("cert-manager", "v1.20.0", "https://charts.jetstack.io", "cert-manager")
METALLB = Chart("metallb", "0.15.3", "https://metallb.github.io/metallb", "metallb-system")
CHARTS = (CERT_MANAGER, METALLB)

ACME_SERVERS = {
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "letsencrypt-production": "https://acme-v02.api.letsencrypt.org/directory",
}
TRAEFIK_CLASS = "traefik"  # K3s's bundled Traefik registers this IngressClass
METALLB_POOL = "platform"


def _on_workload_nodes() -> dict[str, Any]:
    return {"nodeSelector": {n.LABEL_WORKLOADS: "true"}}


def cert_manager_values() -> dict[str, Any]:
    # The CRDs come with the release (and stay when it is removed: the chart's default since 1.15),
    # so the ClusterIssuers below can be created right after it.
    return {"crds": {"enabled": True, "keep": True}, **_on_workload_nodes()}


def metallb_values() -> dict[str, Any]:
    # Speakers only where Traefik runs: with externalTrafficPolicy Local a node announces an address
    # only if it has a ready endpoint of the service.
    return {"speaker": _on_workload_nodes(), "controller": _on_workload_nodes()}


def cluster_issuer(settings: Settings, name: str) -> dict[str, Any]:
    """A Let's Encrypt ClusterIssuer answering HTTP-01 through Traefik."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": name},
        "spec": {"acme": {
            "email": settings.acme_email,
            "server": ACME_SERVERS[name],
            "privateKeySecretRef": {"name": f"{name}-account-key"},
            "solvers": [{"http01": {"ingress": {"ingressClassName": TRAEFIK_CLASS}}}],
        }},
    }


def metallb_cidrs(range_text: str) -> list[str]:
    """FIRST-LAST as the CIDR blocks that cover exactly that range."""
    lo, hi = (ipaddress.IPv4Address(a.strip()) for a in range_text.split("-"))
    return [str(net) for net in ipaddress.summarize_address_range(lo, hi)]


def address_pool(settings: Settings) -> dict[str, Any]:
    rng = settings.k3s.metallb_range
    if rng is None:
        raise ValueError("k3s.metallbRange is required for MetalLB's pool")
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": METALLB_POOL, "namespace": METALLB.namespace},
        "spec": {"addresses": [rng.replace(" ", "")], "autoAssign": True},
    }


def l2_advertisement() -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": METALLB_POOL, "namespace": METALLB.namespace},
        "spec": {"ipAddressPools": [METALLB_POOL]},
    }


def trusted_proxies(settings: Settings) -> list[str]:
    """Who may set X-Forwarded-*: MetalLB's addresses and the edge VMs (a proxy in front)."""
    out = metallb_cidrs(settings.k3s.metallb_range) if settings.k3s.metallb_range else []
    out += [f"{h.private_ip}/32" for h in settings.hosts["edge"]]
    return list(dict.fromkeys(out))


def traefik_values(settings: Settings) -> dict[str, Any]:
    trusted = {"forwardedHeaders": {"trustedIPs": trusted_proxies(settings)}}
    return {
        # The client's address reaches the pod (no SNAT to another node): rate limits and logs see
        # it, and MetalLB announces from the nodes that run Traefik.
        "service": {"spec": {"externalTrafficPolicy": "Local"}},
        "ports": {
            "web": {**trusted, "redirections": {"entryPoint": {"to": "websecure", "scheme": "https",
                                                               "permanent": True}}},
            "websecure": trusted,
        },
        **_on_workload_nodes(),
    }


def traefik_config(settings: Settings) -> dict[str, Any]:
    """K3s's HelmChartConfig for its bundled Traefik chart (kube-system/traefik)."""
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChartConfig",
        "metadata": {"name": "traefik", "namespace": "kube-system"},
        "spec": {"valuesContent": yaml.safe_dump(traefik_values(settings), sort_keys=False)},
    }
