"""The K3s checklist lines' judgement of what `k3s kubectl ... -o json` and `k3s etcd-snapshot ls`
print (documents shaped like the Kubernetes API's), and their SKIP where K3s is off (the lab).
No cluster runs here: the lines have not run against a real one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from components.checks import FAIL, PASS, SKIP
from components.k3s import checks as c
from tests.unit.helpers import settings


def node(name: str, version: str, ready: str = "True") -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"nodeInfo": {"kubeletVersion": version},
                                                   "conditions": [{"type": "Ready", "status": ready}]}}


def test_nodes_ready_on_the_pinned_version() -> None:
    s = settings("prod-ha")
    v = s.k3s.version
    names = ["k3s-1", "k3s-2", "k3s-3", "k3s-4", "k3s-5"]
    doc = {"items": [node(x, v) for x in names]}
    assert [r.status for r in c.node_rows(s, doc)] == [PASS] * 5
    doc = {"items": [node("k3s-1", v), node("k3s-2", "v1.35.4+k3s1"), node("k3s-3", v, "False"), node("k3s-4", v)]}
    rows = {r.subject: r for r in c.node_rows(s, doc)}
    assert rows["k3s-1"].status == PASS
    assert rows["k3s-2"].status == FAIL and "v1.35.4+k3s1" in rows["k3s-2"].evidence
    assert rows["k3s-3"].status == FAIL and rows["k3s-5"].status == FAIL and "not a node" in rows["k3s-5"].evidence


def deployment(name: str, want: int, have: int) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"replicas": want},
            "status": {"availableReplicas": have,
                       "conditions": [{"type": "Available", "status": "True" if have >= want else "False"}]}}


def test_deployments_available_and_required_ones_present() -> None:
    rows = c.deployment_rows({"items": [deployment("coredns", 1, 1), deployment("metrics-server", 1, 0)]},
                             "kube-system", ("coredns", "traefik"))
    by = {r.subject: r.status for r in rows}
    assert by == {"kube-system/traefik": FAIL, "kube-system/coredns": PASS, "kube-system/metrics-server": FAIL}


def test_cluster_issuers_ready() -> None:
    ready = {"type": "Ready", "status": "True", "message": "The ACME account was registered with the ACME server"}
    doc = {"items": [{"metadata": {"name": "letsencrypt-staging"}, "status": {"conditions": [ready]}},
                     {"metadata": {"name": "letsencrypt-production"},
                      "status": {"conditions": [{"type": "Ready", "status": "False", "message": "rate limited"}]}}]}
    rows = {r.subject: r for r in c.issuer_rows(doc)}
    assert rows["letsencrypt-staging"].status == PASS
    assert rows["letsencrypt-production"].status == FAIL and "rate limited" in rows["letsencrypt-production"].evidence


def test_traefik_address_from_the_pool() -> None:
    s = settings("prod-ha")  # k3s.metallbRange 198.51.100.200-198.51.100.210
    pools = {"items": [{"metadata": {"name": "platform"}}]}

    def svc(*ips: str) -> dict[str, Any]:
        return {"status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}}

    assert [r.status for r in c.lb_rows(s, pools, svc("198.51.100.205"))] == [PASS, PASS]
    assert [r.status for r in c.lb_rows(s, pools, svc("198.51.100.211"))] == [PASS, FAIL]
    assert [r.status for r in c.lb_rows(s, {"items": []}, svc())] == [FAIL, FAIL]


def test_recent_snapshot_in_s3() -> None:
    s = settings("prod-ha")
    local = "file:///var/lib/rancher/k3s/server/db/snapshots/x"
    s3 = "s3://platform-prod-ha-backups/k3s/prod-ha"
    listing = "\n".join([
        "Name Location Size Created",
        f"etcd-snapshot-k3s-1-1796500000 {local} 4096000 2026-12-06T12:00:00Z",
        f"etcd-snapshot-k3s-1-1796400000 {s3}/y 4096000 2026-12-05T00:00:00Z",
        f"etcd-snapshot-k3s-1-1796500000 {s3}/x 4096000 2026-12-06T12:00:00Z",
    ])
    now = datetime(2026, 12, 7, tzinfo=UTC).timestamp()
    [row] = c.snapshot_rows(s, listing, now)
    assert row.status == PASS and row.evidence.startswith("etcd-snapshot-k3s-1-1796500000, 12.0 h")
    [row] = c.snapshot_rows(s, listing, now + 3 * 86400)
    assert row.status == FAIL
    [row] = c.snapshot_rows(s, listing.splitlines()[1], now)
    assert row.status == FAIL and "no etcd snapshot in S3" in row.evidence


def test_skips_where_k3s_is_off() -> None:
    class Ctx:
        settings = settings("lab")

    for fn in (c.nodes, c.system_deployments, c.cert_manager, c.load_balancer, c.etcd_snapshot):
        rows = fn(Ctx())  # type: ignore[arg-type]
        assert [(r.status, r.evidence) for r in rows] == [(SKIP, "k3s.enabled is false")]
