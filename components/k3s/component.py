"""K3sCluster: registers the K3s plan (components/k3s/plan.py), reads the admin kubeconfig back
from the first server (a secret, rewritten to the API endpoint) and builds the one
`kubernetes.Provider` every Kubernetes object of the platform uses."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as kubernetes

from components.component import PlannedComponent
from components.deploy import Deployment
from components.k3s import addons, contract
from components.k3s import names as n
from components.k3s.plan import kubeconfig_step_name, step_name
from components.k3s.render import extract_kubeconfig, rewrite_kubeconfig
from components.plan import Plan
from components.settings import Settings


def cluster_name(settings: Settings) -> str:
    """The kubeconfig's cluster, user and context name, and the provider's cluster identity."""
    return f"platform-{settings.stack}"


class K3sCluster(PlannedComponent):
    api_endpoint: str
    """https://<k3s.apiEndpoint>:6443, the address every server certificate carries."""
    ready: pulumi.Resource
    """The last server's step: after it every server is Ready (depend on this, not the component)."""
    kubeconfig: pulumi.Output[str]
    """The admin kubeconfig with its server set to the API endpoint (secret)."""
    provider: kubernetes.Provider
    scrape_targets: dict[str, list[str]]
    """job -> its ip:port targets (kube-state-metrics through the first server)."""
    addons: dict[str, pulumi.Resource]
    """cert-manager, MetalLB, their custom resources and Traefik's HelmChartConfig, by name."""

    def __init__(self, settings: Settings, plan: Plan, deployment: Deployment,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:k3s:K3sCluster", "k3s", settings, plan, deployment, opts)
        self.api_endpoint = n.api_url(settings.k3s.api_endpoint)
        self.scrape_targets = {j.job: j.addresses() for j in contract.contract(settings).scrape_jobs}
        self.ready = self.steps[step_name(n.servers(settings)[-1])]
        read_back = self.steps[kubeconfig_step_name(settings)]
        name = cluster_name(settings)
        stdout: pulumi.Output[str] = read_back.stdout  # type: ignore[attr-defined]
        self.kubeconfig = pulumi.Output.secret(stdout.apply(
            lambda out: rewrite_kubeconfig(extract_kubeconfig(out), settings.k3s.api_endpoint, name)))
        self.provider = kubernetes.Provider(
            "k3s", kubeconfig=self.kubeconfig,
            # The cluster's identity for Pulumi: a changed kubeconfig text (a new client certificate,
            # another endpoint) must not replace every object on the cluster.
            cluster_identifier=name,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[read_back]))
        self.addons = addons.register(settings, self.provider, self)
        self.register_outputs(self.stack_outputs())

    def stack_outputs(self) -> dict[str, Any]:
        return {"k3sApiEndpoint": self.api_endpoint, "kubeconfig": self.kubeconfig,
                "k3sScrapeTargets": self.scrape_targets}


def build(settings: Settings, plan: Plan, deployment: Deployment) -> dict[str, Any]:
    if not settings.k3s.enabled:
        return {}
    cluster = K3sCluster(settings, plan, deployment)
    deployment.providers["k3s"] = cluster.provider
    return cluster.stack_outputs()
