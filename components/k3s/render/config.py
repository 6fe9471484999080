"""`/etc/rancher/k3s/config.yaml` per node: K3s reads it at every start (the keys are its command
line flags). The join token and the S3 keys appear only as `{{secret:NAME}}` placeholders; the step
substitutes them on the node and installs the file 0600."""

from __future__ import annotations

from typing import Any

import yaml

from components.k3s import names as n
from components.plan import SECRET_S3_ACCESS, SECRET_S3_SECRET, placeholder
from components.settings import Host, Settings

HEADER = "# K3s configuration. Rendered by the platform program (components/k3s/render/config.py); do not edit.\n"


def tls_sans(settings: Settings) -> list[str]:
    """Every name a client may use for the API: the endpoint and each server's addresses (a
    client that fails over to another server must find its address in the certificate)."""
    out = [settings.k3s.api_endpoint]
    for h in n.servers(settings):
        out += [h.private_ip, h.public_ip]
    return list(dict.fromkeys(a for a in out if a))


def node_labels(settings: Settings, host: Host) -> list[str]:
    runs = host in n.workload_nodes(settings)
    return [f"{n.LABEL_ROLE}={host.role}", f"{n.LABEL_WORKLOADS}={'true' if runs else 'false'}"]


def _etcd_snapshots(settings: Settings) -> dict[str, Any]:
    k = settings.k3s
    out: dict[str, Any] = {
        "etcd-snapshot-schedule-cron": k.snapshot_schedule,
        "etcd-snapshot-retention": k.snapshot_retention,
        "etcd-s3": True,
        "etcd-s3-endpoint": n.s3_endpoint(settings),
        "etcd-s3-region": settings.s3.region,
        "etcd-s3-bucket": settings.s3.buckets.backups,
        "etcd-s3-folder": n.snapshot_folder(settings),
        # Path-style like every other S3 client of the platform: S3-compatible stores (and a
        # bucket name with dots under TLS) do not all serve virtual-hosted names.
        "etcd-s3-bucket-lookup-type": "path",
        # A count of its own in K3s (default 5): without it the bucket keeps a different number.
        "etcd-s3-retention": k.snapshot_retention,
        "etcd-s3-access-key": placeholder(SECRET_S3_ACCESS),
        "etcd-s3-secret-key": placeholder(SECRET_S3_SECRET),
    }
    if settings.s3.ca_certificate:
        out["etcd-s3-endpoint-ca"] = n.S3_CA_FILE
    return out


def render_config(settings: Settings, host: Host) -> str:
    k = settings.k3s
    cfg: dict[str, Any] = {
        "token": placeholder(n.SECRET_TOKEN),
        "node-name": host.name,
        # Cluster traffic (flannel, kubelet, etcd) on the private network.
        "node-ip": host.private_ip,
    }
    if host.public_ip != host.private_ip:
        cfg["node-external-ip"] = host.public_ip
    cfg["node-label"] = node_labels(settings, host)
    if host.role == "k3sAgents":
        cfg["server"] = n.join_url(settings)
        return HEADER + yaml.safe_dump(cfg, sort_keys=False)
    if host == n.first_server(settings):
        cfg["cluster-init"] = True
    else:
        cfg["server"] = n.join_url(settings)
    cfg |= {
        "tls-san": tls_sans(settings),
        # MetalLB hands out LoadBalancer addresses; K3s's own ServiceLB would compete for them.
        "disable": ["servicelb"],
        "cluster-cidr": k.cluster_cidr,
        "service-cidr": k.service_cidr,
        # Only root reads the admin kubeconfig on the node (the program reads it over sudo).
        "write-kubeconfig-mode": "0600",
    }
    if n.tainted(settings):
        cfg["node-taint"] = [n.SERVER_TAINT]
    cfg |= _etcd_snapshots(settings)
    return HEADER + yaml.safe_dump(cfg, sort_keys=False)
