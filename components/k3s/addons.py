"""The cluster add-ons on the K3s provider (the data is in render/addons.py and
render/kube_state_metrics.py): cert-manager and its ClusterIssuers, MetalLB and its pool, the
HelmChartConfig for K3s's bundled Traefik, kube-state-metrics. Every custom
resource depends on the release that installs its CRD, so that a first `pulumi up` does not fail
with "no matches for kind"."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as kubernetes

from components.k3s.render import addons as a
from components.k3s.render import kube_state_metrics as ksm
from components.settings import Settings


def _release(chart: a.Chart, values: dict[str, Any], opts: pulumi.ResourceOptions) -> kubernetes.helm.v3.Release:
    return kubernetes.helm.v3.Release(
        chart.name, chart=chart.name, version=chart.version, namespace=chart.namespace, create_namespace=True,
        repository_opts=kubernetes.helm.v3.RepositoryOptsArgs(repo=chart.repo), values=values,
        # A release that did not become ready fails the `up` instead of leaving a half-installed chart.
        atomic=True, timeout=600, opts=opts)


def _custom(out: dict[str, pulumi.Resource], body: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
    meta = body["metadata"]
    name = f"{body['kind'].lower()}-{meta['name']}"
    out[name] = kubernetes.apiextensions.CustomResource(
        name, api_version=body["apiVersion"], kind=body["kind"], metadata=meta, spec=body["spec"], opts=opts)


def register(settings: Settings, provider: kubernetes.Provider, parent: pulumi.Resource) -> dict[str, pulumi.Resource]:
    """Every add-on object, by Pulumi name."""
    base = pulumi.ResourceOptions(parent=parent, provider=provider)
    out: dict[str, pulumi.Resource] = {}
    cm = _release(a.CERT_MANAGER, a.cert_manager_values(), base)
    out[a.CERT_MANAGER.name] = cm
    after_cm = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[cm]))
    for issuer in a.ACME_SERVERS:
        _custom(out, a.cluster_issuer(settings, issuer), after_cm)
    lb = _release(a.METALLB, a.metallb_values(), base)
    out[a.METALLB.name] = lb
    if settings.k3s.metallb_range:
        after_lb = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[lb]))
        for body in (a.address_pool(settings), a.l2_advertisement()):
            _custom(out, body, after_lb)
    # K3s installs the HelmChartConfig CRD itself (its helm controller), before the API answers.
    _custom(out, a.traefik_config(settings), base)
    # Plain manifests (built-in kinds only), applied as they are written.
    out[ksm.NAME] = kubernetes.yaml.v2.ConfigGroup(ksm.NAME, objs=ksm.manifests(), opts=base)
    return out
