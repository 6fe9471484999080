"""kube-state-metrics for the monitoring VM (pure): our own manifests (no chart), so that every
object is a built-in kind that `kubernetes-validate --strict` checks. Prometheus runs outside the
cluster, so the metrics are published on a fixed NodePort and scraped through one node (the first
server): one target, so each series exists once.

kube-state-metrics v2.17.0 (its release, in the stored docs). Secrets and ConfigMaps are left out
of its collectors and of its role: listing them would give its token every secret of the cluster,
for metrics the platform does not alert on."""

from __future__ import annotations

from typing import Any

from components.k3s import names as n

VERSION = "v2.17.0"
IMAGE = f"registry.k8s.io/kube-state-metrics/kube-state-metrics:{VERSION}"
NAME = "kube-state-metrics"
NAMESPACE = "kube-system"
METRICS_PORT = 8080
TELEMETRY_PORT = 8081  # its own metrics and /readyz
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/version": VERSION}

# The collectors (kube-state-metrics' --resources) and, per API group, what they list and watch.
COLLECTORS: dict[str, tuple[str, ...]] = {
    "": ("nodes", "pods", "services", "endpoints", "namespaces", "persistentvolumeclaims", "persistentvolumes",
         "replicationcontrollers", "resourcequotas", "limitranges"),
    "apps": ("deployments", "daemonsets", "statefulsets", "replicasets"),
    "batch": ("jobs", "cronjobs"),
    "autoscaling": ("horizontalpodautoscalers",),
    "policy": ("poddisruptionbudgets",),
    "networking.k8s.io": ("ingresses", "networkpolicies"),
    "storage.k8s.io": ("storageclasses", "volumeattachments"),
    "certificates.k8s.io": ("certificatesigningrequests",),
    "coordination.k8s.io": ("leases",),
    "admissionregistration.k8s.io": ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"),
}


def _meta(name: str = NAME, namespaced: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(LABELS)}
    if namespaced:
        meta["namespace"] = NAMESPACE
    return meta


def manifests() -> list[dict[str, Any]]:
    resources = sorted(r for rs in COLLECTORS.values() for r in rs)
    container = {
        "name": NAME,
        "image": IMAGE,
        "args": [f"--port={METRICS_PORT}", f"--resources={','.join(resources)}"],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                  {"name": "telemetry", "containerPort": TELEMETRY_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": TELEMETRY_PORT}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": METRICS_PORT}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(), "automountServiceAccountToken": True},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta(namespaced=False),
         "rules": [{"apiGroups": [group], "resources": list(rs), "verbs": ["list", "watch"]}
                   for group, rs in COLLECTORS.items()]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": _meta(namespaced=False),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
         "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(),
         "spec": {
             "replicas": 1,
             "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
             "template": {
                 "metadata": {"labels": dict(LABELS)},
                 "spec": {
                     "serviceAccountName": NAME,
                     "nodeSelector": {n.LABEL_WORKLOADS: "true"},
                     "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [container],
                 },
             },
         }},
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(),
         "spec": {"type": "NodePort", "selector": {"app.kubernetes.io/name": NAME},
                  "ports": [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP",
                             "nodePort": n.KSM_NODE_PORT}]}},
    ]
