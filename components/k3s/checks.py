"""K3sCluster lines of the checklist, asked of the cluster itself with `k3s kubectl` on the first
server (over SSH, as root: the admin kubeconfig stays on the node): every node Ready on the pinned
version, kube-system's deployments available, cert-manager's webhook and both ClusterIssuers
Ready, MetalLB's pool and Traefik's LoadBalancer address from it, and a recent etcd snapshot in
the bucket. On the lab (k3s.enabled false) each line is a SKIP with that reason.

The JSON parsing is pure (the `*_rows` functions) and unit-tested against kubectl-shaped
documents; no cluster ran here, so the lines themselves have not run against a real one."""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from components.checks import FAIL, PASS, SKIP, Context, Row, check, first_line
from components.k3s import names as n
from components.k3s.render import addons as a
from components.settings import Settings

GROUP = "k3s"
SNAPSHOT_MAX_AGE_S = 2 * 86400  # the default schedule takes one every 12 hours


def _ready(conditions: Sequence[dict[str, Any]], kind: str = "Ready") -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions or ())


def node_rows(settings: Settings, doc: dict[str, Any]) -> list[Row]:
    nodes = {i["metadata"]["name"]: i for i in doc.get("items", [])}
    rows = []
    for h in (*n.servers(settings), *n.agents(settings)):
        item = nodes.get(h.name)
        if item is None:
            rows.append(Row(FAIL, h.name, "not a node of the cluster"))
            continue
        version = item.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "?")
        ready = _ready(item.get("status", {}).get("conditions", []))
        ok = ready and version == settings.k3s.version
        rows.append(Row(PASS if ok else FAIL, h.name, f"Ready={ready}, {version} (pinned {settings.k3s.version})"))
    return rows


def deployment_rows(doc: dict[str, Any], namespace: str, required: Sequence[str] = ()) -> list[Row]:
    items = {i["metadata"]["name"]: i for i in doc.get("items", [])}
    rows = [Row(FAIL, f"{namespace}/{name}", "no such deployment") for name in required if name not in items]
    for name, item in sorted(items.items()):
        want = item.get("spec", {}).get("replicas", 1)
        have = item.get("status", {}).get("availableReplicas", 0)
        ok = have >= want and _ready(item.get("status", {}).get("conditions", []), "Available")
        rows.append(Row(PASS if ok else FAIL, f"{namespace}/{name}", f"{have}/{want} available"))
    return rows or [Row(FAIL, namespace, "no deployments")]


def issuer_rows(doc: dict[str, Any]) -> list[Row]:
    items = {i["metadata"]["name"]: i for i in doc.get("items", [])}
    rows = []
    for name in a.ACME_SERVERS:
        item = items.get(name)
        if item is None:
            rows.append(Row(FAIL, name, "no such ClusterIssuer"))
            continue
        conds = item.get("status", {}).get("conditions", [])
        msg = next((c.get("message", "") for c in conds if c.get("type") == "Ready"), "no Ready condition")
        rows.append(Row(PASS if _ready(conds) else FAIL, name, first_line(msg)))
    return rows


def lb_rows(settings: Settings, pools: dict[str, Any], traefik: dict[str, Any]) -> list[Row]:
    names = {i["metadata"]["name"] for i in pools.get("items", [])}
    rows = [Row(PASS if a.METALLB_POOL in names else FAIL, f"{a.METALLB.namespace}/{a.METALLB_POOL}",
                "IPAddressPool present" if a.METALLB_POOL in names else f"pools: {sorted(names) or 'none'}")]
    ingress = traefik.get("status", {}).get("loadBalancer", {}).get("ingress") or []
    ips = [i.get("ip", "") for i in ingress]
    nets = [ipaddress.ip_network(c) for c in a.metallb_cidrs(settings.k3s.metallb_range or "")] \
        if settings.k3s.metallb_range else []
    ok = bool(ips) and all(any(ipaddress.ip_address(ip) in net for net in nets) for ip in ips if ip)
    rows.append(Row(PASS if ok else FAIL, "kube-system/traefik",
                    f"LoadBalancer {', '.join(ips) or 'pending'} (pool {settings.k3s.metallb_range})"))
    return rows


def newest_snapshot(listing: str) -> tuple[float, str, int] | None:
    """`k3s etcd-snapshot ls` (columns Name, Location, Size, Created): (created, name, size) of
    the newest snapshot in S3."""
    newest: tuple[float, str, int] | None = None
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) < 4 or not parts[1].startswith("s3://"):
            continue
        try:
            when = datetime.fromisoformat(parts[3].replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
        if newest is None or when > newest[0]:
            newest = (when, parts[0], int(parts[2]) if parts[2].isdigit() else 0)
    return newest


def snapshot_rows(settings: Settings, listing: str, now: float) -> list[Row]:
    """The newest etcd snapshot in S3 is recent."""
    newest = newest_snapshot(listing)
    where = f"s3://{settings.s3.buckets.backups}/{n.snapshot_folder(settings)}"
    if newest is None:
        return [Row(FAIL, where, "no etcd snapshot in S3")]
    age = now - newest[0]
    return [Row(PASS if age <= SNAPSHOT_MAX_AGE_S else FAIL, where, f"{newest[1]}, {age / 3600:.1f} h old")]


def _kubectl(ctx: Context, args: str) -> tuple[dict[str, Any] | None, str]:
    p = ctx.sudo(n.first_server(ctx.settings), f"{n.BINARY} kubectl {args} -o json", timeout=60)
    if p.returncode != 0:
        return None, first_line(p.stderr or p.stdout) or f"exit {p.returncode}"
    try:
        return json.loads(p.stdout), ""
    except json.JSONDecodeError as e:
        return None, f"not JSON: {e}"


def _skip(ctx: Context) -> list[Row] | None:
    return None if ctx.settings.k3s.enabled else [Row(SKIP, "-", "k3s.enabled is false")]


@check(GROUP, "every node Ready on the pinned K3s version")
def nodes(ctx: Context) -> list[Row]:
    if (skip := _skip(ctx)) is not None:
        return skip
    doc, err = _kubectl(ctx, "get nodes")
    return node_rows(ctx.settings, doc) if doc is not None else [Row(FAIL, "-", err)]


@check(GROUP, "kube-system deployments available")
def system_deployments(ctx: Context) -> list[Row]:
    if (skip := _skip(ctx)) is not None:
        return skip
    doc, err = _kubectl(ctx, "get deployments -n kube-system")
    return deployment_rows(doc, "kube-system", ("coredns", "traefik")) if doc is not None else [Row(FAIL, "-", err)]


@check(GROUP, "cert-manager (webhook) available and both ClusterIssuers Ready")
def cert_manager(ctx: Context) -> list[Row]:
    if (skip := _skip(ctx)) is not None:
        return skip
    ns = a.CERT_MANAGER.namespace
    deps, err = _kubectl(ctx, f"get deployments -n {ns}")
    rows = deployment_rows(deps, ns, ("cert-manager", "cert-manager-webhook")) if deps is not None \
        else [Row(FAIL, ns, err)]
    issuers, err = _kubectl(ctx, "get clusterissuers.cert-manager.io")
    return rows + (issuer_rows(issuers) if issuers is not None else [Row(FAIL, "clusterissuers", err)])


@check(GROUP, "MetalLB pool present and Traefik's LoadBalancer address from it")
def load_balancer(ctx: Context) -> list[Row]:
    if (skip := _skip(ctx)) is not None:
        return skip
    pools, err1 = _kubectl(ctx, f"get ipaddresspools.metallb.io -n {a.METALLB.namespace}")
    svc, err2 = _kubectl(ctx, "get service traefik -n kube-system")
    if pools is None or svc is None:
        return [Row(FAIL, "-", err1 or err2)]
    return lb_rows(ctx.settings, pools, svc)


@check(GROUP, "a recent etcd snapshot in the backup bucket")
def etcd_snapshot(ctx: Context) -> list[Row]:
    if (skip := _skip(ctx)) is not None:
        return skip
    p = ctx.sudo(n.first_server(ctx.settings), f"{n.BINARY} etcd-snapshot ls", timeout=120)
    if p.returncode != 0:
        return [Row(FAIL, "-", first_line(p.stderr or p.stdout) or f"exit {p.returncode}")]
    return snapshot_rows(ctx.settings, p.stdout, time.time())
