"""Kubernetes objects as plain dicts (pure), and the Secrets as data: which key holds which value
of the data tier. The component (components/apps/component.py) turns a `SecretSpec` into a
Secret whose values are Pulumi secrets; the contract tests resolve the same spec against the
lab's outputs, so both read the same wiring.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.apps import names as n
from components.k3s.render.addons import TRAEFIK_CLASS
from components.plan import ConfigSecret, Password, placeholder

Obj = dict[str, Any]


@dataclass(frozen=True)
class OutputValue:
    """A value of a stack output that a component registered before the apps, by its path
    (e.g. `postgresApps` / `nextcloud` / `password`)."""

    output: str
    path: tuple[str, ...]


Source = OutputValue | Password | ConfigSecret


@dataclass(frozen=True)
class Template:
    """A file whose text names secrets by placeholder ({{secret:NAME}}, components/plan.py)."""

    text: str
    refs: Mapping[str, Source] = field(default_factory=dict)


@dataclass(frozen=True)
class SecretSpec:
    namespace: str
    name: str
    data: Mapping[str, Source | Template]

    def sources(self) -> list[Source]:
        out: list[Source] = []
        for v in self.data.values():
            for s in (v.refs.values() if isinstance(v, Template) else (v,)):
                if s not in out:
                    out.append(s)
        return out

    def checksum(self) -> str:
        """Changes when a key, a template or a source changes (not when a password rotates)."""
        return checksum({k: (v.text, sorted(map(repr, v.refs.values()))) if isinstance(v, Template) else repr(v)
                         for k, v in self.data.items()})


def secret_data(spec: SecretSpec, value: Callable[[Source], str]) -> dict[str, str]:
    """The Secret's stringData, given each source's value."""
    out = {}
    for key, v in spec.data.items():
        if isinstance(v, Template):
            text = v.text
            for name, src in v.refs.items():
                text = text.replace(placeholder(name), value(src))
            out[key] = text
        else:
            out[key] = value(v)
    return out


def meta(name: str, namespace: str | None, labels: Mapping[str, str] | None = None,
         annotations: Mapping[str, str] | None = None) -> Obj:
    m: Obj = {"name": name}
    if namespace:
        m["namespace"] = namespace
    if labels:
        m["labels"] = dict(labels)
    if annotations:
        m["annotations"] = dict(annotations)
    return m


def app_labels(app: str, component: str | None = None) -> dict[str, str]:
    labels = {n.LABEL_APP: app, n.LABEL_PART_OF: "platform"}
    if component:
        labels[n.LABEL_COMPONENT] = component
    return labels


def namespace(name: str, labels: Mapping[str, str] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(name, None, labels)}


def config_map(name: str, ns: str, data: Mapping[str, str], labels: Mapping[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, ns, labels), "data": dict(data)}


def checksum(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()


def env_value(name: str, value: str) -> Obj:
    return {"name": name, "value": value}


def env_secret(name: str, secret: str, key: str) -> Obj:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def resources(cpu: str, memory: str, cpu_limit: str | None = None, memory_limit: str | None = None) -> Obj:
    limits = {"memory": memory_limit or memory}
    if cpu_limit:
        limits["cpu"] = cpu_limit
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": limits}


def restricted_container() -> Obj:
    """The securityContext of a container that runs as its image's non-root user."""
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}


def root_entrypoint_container(*caps: str) -> Obj:
    """For images whose entrypoint starts as root (Apache binding :80, files chowned to www-data):
    every capability dropped but the ones it needs, no privilege escalation."""
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"], "add": list(caps)},
            "seccompProfile": {"type": "RuntimeDefault"}}


def http_probe(path: str, port: int | str, *, period: int = 10, failures: int = 3, timeout: int = 5,
               headers: Mapping[str, str] | None = None) -> Obj:
    get: Obj = {"path": path, "port": port}
    if headers:
        get["httpHeaders"] = [{"name": k, "value": v} for k, v in headers.items()]
    return {"httpGet": get, "periodSeconds": period, "failureThreshold": failures, "timeoutSeconds": timeout}


def ca_volume() -> tuple[Obj, Obj]:
    """The internal CA (a ConfigMap in every app namespace) as a volume and its mount."""
    return ({"name": "platform-ca", "configMap": {"name": n.CA_CONFIGMAP}},
            {"name": "platform-ca", "mountPath": n.CA_FILE.rsplit("/", 1)[0], "readOnly": True})


def deployment(name: str, ns: str, labels: Mapping[str, str], pod: Obj, *, replicas: int,
               checksum_value: str, recreate: bool = False) -> Obj:
    strategy: Obj = {"type": "Recreate"} if recreate else {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name, ns, labels),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": dict(labels)},
            "strategy": strategy,
            "template": {"metadata": {"labels": dict(labels), "annotations": {n.CHECKSUM_ANNOTATION: checksum_value}},
                         "spec": pod},
        },
    }


def spread(labels: Mapping[str, str]) -> Obj:
    """Replicas on different nodes (required: two replicas on one node are one failure)."""
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": dict(labels)}, "topologyKey": "kubernetes.io/hostname"}]}}


def service(name: str, ns: str, selector: Mapping[str, str], ports: Sequence[tuple[str, int, int | str]],
            labels: Mapping[str, str] | None = None, headless: bool = False) -> Obj:
    spec: Obj = {"type": "ClusterIP", "selector": dict(selector),
                 "ports": [{"name": pn, "port": p, "targetPort": t, "protocol": "TCP"} for pn, p, t in ports]}
    if headless:
        spec["clusterIP"] = "None"
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, ns, labels or selector), "spec": spec}


def pdb(name: str, ns: str, labels: Mapping[str, str]) -> Obj:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(name, ns, labels),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(labels)}}}


def pvc(name: str, ns: str, size: str, storage_class: str, labels: Mapping[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(name, ns, labels),
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                     "resources": {"requests": {"storage": size}}}}


def ingress(app: str, ns: str, hostname: str, issuer: str, paths: Sequence[tuple[str, str, int]]) -> Obj:
    """HTTPS on `hostname` through Traefik; cert-manager's ingress-shim issues the certificate."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": meta(app, ns, app_labels(app), {
            "cert-manager.io/cluster-issuer": issuer,
            "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
            "traefik.ingress.kubernetes.io/router.tls": "true",
        }),
        "spec": {
            "ingressClassName": TRAEFIK_CLASS,
            "tls": [{"hosts": [hostname], "secretName": n.tls_secret(app)}],
            "rules": [{"host": hostname, "http": {"paths": [
                {"path": p, "pathType": "Prefix", "backend": {"service": {"name": svc, "port": {"number": port}}}}
                for p, svc, port in paths]}}],
        },
    }


def _ports(ports: Sequence[int], protocol: str = "TCP") -> list[Obj]:
    return [{"protocol": protocol, "port": p} for p in ports]


def _ns_selector(ns: str) -> Obj:
    return {"matchLabels": {"kubernetes.io/metadata.name": ns}}


def default_deny(ns: str) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("default-deny", ns),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}


def allow_from_traefik(app: str, ns: str, ports: Sequence[int]) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("from-traefik", ns),
            "spec": {"podSelector": {"matchLabels": {n.LABEL_APP: app}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"namespaceSelector": _ns_selector(n.TRAEFIK_NAMESPACE),
                                            "podSelector": {"matchLabels": dict(n.TRAEFIK_LABELS)}}],
                                  "ports": _ports(ports)}]}}


def dns_egress() -> Obj:
    dns = {"namespaceSelector": _ns_selector("kube-system"), "podSelector": {"matchLabels": dict(n.DNS_LABELS)}}
    return {"to": [dns],
            "ports": _ports([53], "UDP") + _ports([53])}


def router_egress(services: Sequence[n.RouterService]) -> Obj:
    # Policies see the pod's address and port after the Service's DNAT: the router pods' listeners.
    return {"to": [{"namespaceSelector": _ns_selector(n.PLATFORM_NAMESPACE),
                    "podSelector": {"matchLabels": {n.LABEL_APP: n.ROUTER}}}],
            "ports": _ports(sorted({s.target for s in services}))}


def ip_egress(cidrs: Sequence[str], ports: Sequence[int], except_: Sequence[str] = ()) -> Obj:
    to = []
    for c in cidrs:
        block: Obj = {"cidr": c}
        if except_:
            block["except"] = list(except_)
        to.append({"ipBlock": block})
    return {"to": to, "ports": _ports(ports)}


def egress_policy(name: str, ns: str, selector: Mapping[str, str], rules: Sequence[Obj]) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(name, ns),
            "spec": {"podSelector": {"matchLabels": dict(selector)}, "policyTypes": ["Egress"],
                     "egress": list(rules)}}


def peers_policy(name: str, ns: str, labels: Mapping[str, str], ports: Sequence[int]) -> Obj:
    """Pods of one app talking to each other (Keycloak's cache cluster)."""
    peer = [{"podSelector": {"matchLabels": dict(labels)}}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(name, ns),
            "spec": {"podSelector": {"matchLabels": dict(labels)}, "policyTypes": ["Ingress", "Egress"],
                     "ingress": [{"from": peer, "ports": _ports(ports)}],
                     "egress": [{"to": peer, "ports": _ports(ports)}]}}
