"""AppStack: the apps and the in-cluster router on the K3s provider (the objects are data in
components/apps/render/). Namespaces first; then in each namespace the internal CA (a ConfigMap)
and the Secrets, whose values are the data tier's outputs and generated passwords, Pulumi
secrets end to end; then each group of objects, after its namespace's ConfigMap and Secrets."""

from __future__ import annotations

from functools import reduce
from typing import Any

import pulumi
import pulumi_kubernetes as kubernetes

from components.apps import names as n
from components.apps import render
from components.apps.render.kube import OutputValue, SecretSpec, Source, checksum, secret_data
from components.catalog import contracts as all_contracts
from components.component import PlannedComponent
from components.deploy import Deployment
from components.pki import secret
from components.plan import Plan
from components.settings import Settings


def _dig(value: Any, path: tuple[str, ...]) -> str:
    return str(reduce(lambda v, key: v[key], path, value))


class AppStack(PlannedComponent):
    urls: dict[str, str]
    """app -> https://<apps.<app>.hostname>."""
    admins: pulumi.Output[dict[str, Any]]
    """app -> {user, password} of its first administrator (Odoo: the master password); secret."""
    probe_targets: dict[str, str]
    """app -> the URL a blackbox probe should GET (each app's health endpoint through Traefik)."""

    def __init__(self, settings: Settings, plan: Plan, deployment: Deployment,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:apps:AppStack", "apps", settings, plan, deployment, opts)
        self._deployment = deployment
        base = pulumi.ResourceOptions(parent=self, provider=deployment.providers["k3s"])
        namespaces = render.namespaces(settings)
        ns_group = kubernetes.yaml.v2.ConfigGroup("apps-namespaces", objs=namespaces, opts=base)
        after_ns = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[ns_group]))
        in_ns: dict[str, list[pulumi.Resource]] = {}
        ca_data: dict[str, pulumi.Input[str]] = {n.CA_KEY: deployment.ca.cert_pem}
        if settings.s3.ca_certificate:
            ca_data["s3-ca.crt"] = settings.s3.ca_certificate
        for ns in (o["metadata"]["name"] for o in namespaces):
            in_ns[ns] = [kubernetes.core.v1.ConfigMap(
                f"{ns}-{n.CA_CONFIGMAP}", metadata={"name": n.CA_CONFIGMAP, "namespace": ns}, data=ca_data,
                opts=after_ns)]
        for spec in render.secrets(settings, all_contracts(settings)):
            in_ns[spec.namespace].append(kubernetes.core.v1.Secret(
                f"{spec.namespace}-{spec.name}", metadata={"name": spec.name, "namespace": spec.namespace},
                type="Opaque", string_data=self._string_data(spec), opts=after_ns))
        ca_sum = checksum(settings.s3.ca_certificate or "")
        for group, objs in render.objects(settings, all_contracts(settings), ca_sum).items():
            ns = n.PLATFORM_NAMESPACE if group == "router" else group
            kubernetes.yaml.v2.ConfigGroup(f"apps-{group}", objs=objs, opts=pulumi.ResourceOptions.merge(
                base, pulumi.ResourceOptions(depends_on=[ns_group, *in_ns[ns]])))
        self.urls = render.urls(settings)
        self.probe_targets = {app: url + n.HEALTH_PATHS[app] for app, url in self.urls.items()}
        users = {"nextcloud": "admin", "odoo": "admin", "keycloak": "admin", "mautic": "admin"}
        apps = list(self.urls)
        def admins(pws: list[str]) -> dict[str, Any]:
            return {a: {"user": users[a], "password": pw} for a, pw in zip(apps, pws, strict=True)}

        self.admins = pulumi.Output.secret(
            pulumi.Output.all(*(deployment.passwords[n.admin_password(a)] for a in apps)).apply(admins))
        self.register_outputs(self.stack_outputs())

    def _source(self, src: Source) -> pulumi.Output[str]:
        if isinstance(src, OutputValue):
            if src.output not in self._deployment.outputs:
                raise KeyError(f"the apps read stack output {src.output!r}, which no component registered before them")
            path = src.path

            def dig(v: Any) -> str:
                return _dig(v, path)
            return pulumi.Output.from_input(self._deployment.outputs[src.output]).apply(dig)
        return self._deployment.secret(src)

    def _string_data(self, spec: SecretSpec) -> dict[str, pulumi.Output[str]]:
        """key -> its value, each a secret (the keys are not: a preview shows which changed)."""
        sources = spec.sources()
        values = pulumi.Output.all(*(self._source(s) for s in sources))
        def render(vs: list[str]) -> dict[str, str]:
            return secret_data(spec, dict(zip(sources, vs, strict=True)).__getitem__)

        data = values.apply(render)

        def pick(key: str) -> pulumi.Output[str]:
            return secret(data.apply(lambda d: d[key]))
        return {key: pick(key) for key in spec.data}

    def stack_outputs(self) -> dict[str, Any]:
        return {"appUrls": self.urls, "appAdmins": self.admins, "appProbeTargets": self.probe_targets}


def build(settings: Settings, plan: Plan, deployment: Deployment) -> dict[str, Any]:
    if not settings.enabled_apps() and not render.router_in_cluster(settings):
        return {}
    return AppStack(settings, plan, deployment).stack_outputs()


