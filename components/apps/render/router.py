"""The database/Redis router inside K3s (router.placement: k3s): the same haproxy.cfg the edge VMs
run (components/router/render.py; only its `global` section differs), as a Deployment of two
replicas on different nodes, its Services in the `platform` namespace and who may reach it. Pure.

The config carries the Redis health check's password (a placeholder), so it is a Secret; the
internal CA that verifies PgBouncer, Patroni and MariaDB is a ConfigMap. The pod template's
checksum annotation changes with either, so a changed config rolls the pods one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.apps import names as n
from components.apps.render import kube as k
from components.contract import Contract
from components.router.plan import haproxy_config, listener_secrets
from components.router.render import CA_FILE
from components.settings import Settings

CONFIG_DIR = CA_FILE.rsplit("/", 1)[0]  # /etc/haproxy: haproxy.cfg and the CA, one projected volume
HAPROXY_UID = 99  # the official image's `haproxy` user and group


def labels() -> dict[str, str]:
    return k.app_labels(n.ROUTER, "router")


def config_secret(settings: Settings, contracts: Sequence[Contract]) -> k.SecretSpec:
    return k.SecretSpec(n.PLATFORM_NAMESPACE, f"{n.ROUTER}-config", {
        "haproxy.cfg": k.Template(haproxy_config(settings, contracts, in_cluster=True),
                                  dict(listener_secrets(contracts))),  # type: ignore[arg-type]
    })


def objects(settings: Settings, contracts: Sequence[Contract], ca_checksum: str) -> list[k.Obj]:
    """Everything of the router but its config Secret and the CA ConfigMap (the component's)."""
    lb = labels()
    services = n.router_services(settings)
    secret = config_secret(settings, contracts)
    container = {
        "name": "haproxy",
        "image": n.IMAGES["router"].ref(),
        "args": ["haproxy", "-W", "-db", "-f", f"{CONFIG_DIR}/haproxy.cfg"],
        "env": [{"name": "PLATFORM_PRIVATE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"name": f"l{s.target}", "containerPort": s.target, "protocol": "TCP"}
                  for s in sorted({s.target: s for s in services}.values(), key=lambda s: s.target)]
        + [{"name": "stats", "containerPort": n.ROUTER_STATS_PORT, "protocol": "TCP"}],
        # The stats page answers once HAProxy runs its config; a pod whose backends are all down
        # still routes nothing wrong (its listeners refuse), so readiness is the process, not the tier.
        "readinessProbe": k.http_probe("/", n.ROUTER_STATS_PORT, period=5, failures=2, timeout=2),
        "livenessProbe": k.http_probe("/", n.ROUTER_STATS_PORT, period=10, failures=3, timeout=2),
        "resources": k.resources("50m", "64Mi", memory_limit="256Mi"),
        "securityContext": {**k.restricted_container(), "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                            "runAsUser": HAPROXY_UID, "runAsGroup": HAPROXY_UID},
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                         {"name": "run", "mountPath": "/run/haproxy"}],
    }
    pod = {
        "affinity": k.spread(lb),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": [
            {"name": "config", "projected": {"sources": [
                {"secret": {"name": secret.name, "items": [{"key": "haproxy.cfg", "path": "haproxy.cfg"}]}},
                {"configMap": {"name": n.CA_CONFIGMAP,
                               "items": [{"key": n.CA_KEY, "path": CA_FILE.rsplit("/", 1)[1]}]}},
            ]}},
            {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        ],
    }
    ns = n.PLATFORM_NAMESPACE
    out = [
        k.deployment(n.ROUTER, ns, lb, pod, replicas=n.ROUTER_REPLICAS,
                     checksum_value=k.checksum(secret.checksum(), ca_checksum)),
        k.pdb(n.ROUTER, ns, lb),
    ]
    out += [k.service(s.name, ns, lb, [("tcp", s.port, s.target)], labels=lb) for s in services]
    # Only the app namespaces reach the listeners; the kubelet's probes come from the node.
    out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": k.meta("router-clients", ns),
                "spec": {"podSelector": {"matchLabels": lb}, "policyTypes": ["Ingress"],
                         "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {n.LABEL_ROUTER_CLIENT: "true"}}}],
                                      "ports": [{"protocol": "TCP", "port": t}
                                                for t in sorted({s.target for s in services})]}]}})
    return out
