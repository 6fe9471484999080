"""The firewall matrix: each port open on exactly the hosts that serve it, to exactly its clients."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from components.baseline.contract import ports as baseline_ports
from components.catalog import host_groups
from components.firewall import ServicePort, firewall_matrix, render_nftables
from components.k3s.contract import ports as k3s_ports
from tests.unit.helpers import settings


def rules_by_name(matrix, host):  # type: ignore[no-untyped-def]
    return {r.name: r for r in matrix[host]}


def test_ssh_only_from_admin_and_node_exporter_only_from_monitoring() -> None:
    s = settings("prod-ha")
    m = firewall_matrix(s, baseline_ports(s), host_groups(s))
    for h in s.hosts.all():
        r = rules_by_name(m, h.name)
        assert r["ssh"].sources == ("203.0.113.0/28",)
        assert r["node-exporter"].sources == ("192.0.2.41/32",)


def test_k3s_ports_only_on_k3s_nodes() -> None:
    s = settings("prod-ha")
    m = firewall_matrix(s, k3s_ports(s), host_groups(s))
    assert "k3s-api" in rules_by_name(m, "k3s-1")
    assert "k3s-api" not in rules_by_name(m, "k3s-4")  # agent
    assert "kubelet" in rules_by_name(m, "k3s-4")
    assert not {"k3s-api", "kubelet", "http"} & set(rules_by_name(m, "db-1"))
    assert rules_by_name(m, "k3s-4")["https"].sources == ()


def test_component_ports_extend_the_matrix_by_group() -> None:
    s = settings("prod-ha")
    extra = [ServicePort("etcd", (2379, 2380), ("etcd",), ("etcd",)),
             ServicePort("pgbouncer", 6432, ("postgres",), ("router",))]
    m = firewall_matrix(s, baseline_ports(s) + extra, host_groups(s))
    etcd = rules_by_name(m, "mon-1")["etcd"]
    assert etcd.port == "2379-2380"
    assert etcd.sources == ("192.0.2.21/32", "192.0.2.22/32", "192.0.2.41/32")
    assert "etcd" not in rules_by_name(m, "redis-1")
    # The router runs in K3s in prod-ha: every K3s node may reach PgBouncer, nobody else.
    assert rules_by_name(m, "db-2")["pgbouncer"].sources == tuple(
        sorted(f"192.0.2.1{i}/32" for i in range(1, 6)))


def test_lab_router_on_edge_vm() -> None:
    s = settings("lab")
    extra = [ServicePort("pgbouncer", 6432, ("postgres",), ("router",))]
    m = firewall_matrix(s, baseline_ports(s) + extra, host_groups(s))
    assert rules_by_name(m, "db-1")["pgbouncer"].sources == ("198.18.0.41/32",)


def test_rendered_table_is_default_deny_and_scoped() -> None:
    s = settings("prod-ha")
    m = firewall_matrix(s, baseline_ports(s) + k3s_ports(s), host_groups(s))
    text = render_nftables("k3s-1", m["k3s-1"], ("cni0",))
    assert "policy drop;" in text and "flush ruleset" not in text
    assert 'ip saddr { 203.0.113.0/28 } tcp dport 22 accept comment "ssh"' in text
    assert 'tcp dport 443 accept comment "https"' in render_nftables("k3s-4", m["k3s-4"], ("cni0",))
    assert text.rstrip().endswith("}")
    assert text.index("default deny") > text.index('comment "ssh"')


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft not installed")
def test_rendered_table_is_accepted_by_nft() -> None:
    s = settings("prod-ha")
    m = firewall_matrix(s, baseline_ports(s) + k3s_ports(s), host_groups(s))
    for host in ("k3s-1", "k3s-4", "db-1"):
        text = render_nftables(host, m[host], ("cni0", "flannel.1"))
        # `nft -c` checks syntax and semantics without touching the ruleset.
        proc = subprocess.run(["nft", "-c", "-f", "-"], input=text, text=True, capture_output=True)
        assert proc.returncode == 0, proc.stderr
