"""The firewall matrix: which sources may reach which port on which host, computed from settings.

Every component declares the ports it listens on as `ServicePort`s (who listens, who may connect);
`firewall_matrix` turns the union into per-host rules and `render_nftables` into the host's table.
Inbound traffic not matched by a rule is rejected (default deny). Pure: no Pulumi imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from components.settings import Host, Settings

# Groups a ServicePort can name. Host groups resolve to the members' private addresses;
# "admin" resolves to ssh.adminSources; "any" to everywhere.
GROUPS = (
    "all", "k3sServers", "k3sAgents", "k3s", "postgres", "redis", "monitoring", "edge",
    "etcd", "router", "admin", "any",
)


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int | tuple[int, int]  # a port, or an inclusive range
    on: tuple[str, ...]  # groups whose hosts listen
    sources: tuple[str, ...]  # groups allowed to connect
    proto: str = "tcp"


@dataclass(frozen=True)
class Rule:
    name: str
    proto: str
    port: str  # "5432" or "2379-2380", nftables syntax
    sources: tuple[str, ...]  # sorted CIDRs; empty means from anywhere


def group_hosts(settings: Settings, group: str) -> tuple[Host, ...]:
    inv = settings.hosts
    table: dict[str, tuple[Host, ...]] = {
        "all": inv.all(),
        "k3sServers": inv.k3s_servers,
        "k3sAgents": inv.k3s_agents,
        "k3s": inv.k3s_servers + inv.k3s_agents,
        "postgres": inv.postgres,
        "redis": inv.redis,
        "monitoring": inv.monitoring,
        "edge": inv.edge,
        "etcd": settings.etcd_members(),
        "router": settings.router_hosts(),
    }
    if group not in table:
        raise ValueError(f"unknown host group {group!r}")
    return table[group]


def _cidr(ip: str) -> str:
    return f"{ip}/128" if ":" in ip else f"{ip}/32"


def group_sources(settings: Settings, group: str) -> tuple[str, ...]:
    if group == "admin":
        return settings.ssh.admin_sources
    if group == "any":
        return ()
    return tuple(_cidr(h.private_ip) for h in group_hosts(settings, group))


def baseline_ports(settings: Settings) -> list[ServicePort]:
    """Ports every platform VM has: SSH from the admins, node_exporter from monitoring."""
    ports = [
        ServicePort("ssh", settings.ssh.port, ("all",), ("admin",)),
        ServicePort("node-exporter", 9100, ("all",), ("monitoring",)),
    ]
    if settings.k3s.enabled:
        # K3s' own control-plane and overlay traffic (docs.k3s.io, "Inbound rules for K3s nodes").
        ports += [
            ServicePort("k3s-api", 6443, ("k3sServers",), ("k3s", "admin", "monitoring")),
            ServicePort("k3s-etcd", (2379, 2380), ("k3sServers",), ("k3sServers",)),
            ServicePort("kubelet", 10250, ("k3s",), ("k3s", "monitoring")),
            ServicePort("flannel-vxlan", 8472, ("k3s",), ("k3s",), proto="udp"),
            ServicePort("http", 80, ("k3s",), ("any",)),
            ServicePort("https", 443, ("k3s",), ("any",)),
        ]
    return ports


def firewall_matrix(settings: Settings, ports: Iterable[ServicePort]) -> dict[str, list[Rule]]:
    """host name -> its inbound rules, in a stable order; a host only gets ports it listens on."""
    matrix: dict[str, list[Rule]] = {h.name: [] for h in settings.hosts.all()}
    for sp in ports:
        port = f"{sp.port[0]}-{sp.port[1]}" if isinstance(sp.port, tuple) else str(sp.port)
        everyone = "any" in sp.sources
        sources: set[str] = set()
        for g in sp.sources:
            sources.update(group_sources(settings, g))
        for g in sp.on:
            for h in group_hosts(settings, g):
                rule = Rule(sp.name, sp.proto, port, () if everyone else tuple(sorted(sources)))
                if rule not in matrix[h.name]:
                    matrix[h.name].append(rule)
    for rules in matrix.values():
        rules.sort(key=lambda r: (r.proto, int(r.port.split("-")[0]), r.name))
    return matrix


def render_nftables(host: str, rules: Sequence[Rule], trusted_ifaces: Sequence[str] = ()) -> str:
    """The platform's own nftables table for one host.

    Only `table inet platform` is replaced (never `flush ruleset`), so rules that K3s or other
    software keep in their own tables survive a re-apply.
    """
    lines = [
        "#!/usr/sbin/nft -f",
        f"# Inbound firewall of {host}, rendered by the platform program (components/firewall.py).",
        "# Changes here are overwritten on the next `pulumi up`.",
        "table inet platform",
        "delete table inet platform",
        "table inet platform {",
        "  chain input {",
        "    type filter hook input priority filter; policy drop;",
        "    ct state established,related accept",
        "    ct state invalid drop",
        '    iifname "lo" accept',
        "    ip protocol icmp icmp type { echo-request, destination-unreachable, time-exceeded } accept",
        "    ip6 nexthdr ipv6-icmp accept",
    ]
    lines += [f'    iifname "{i}" accept' for i in trusted_ifaces]
    for r in rules:
        v4 = [s for s in r.sources if ":" not in s]
        v6 = [s for s in r.sources if ":" in s]
        comment = f'comment "{r.name}"'
        if not r.sources:
            lines.append(f"    {r.proto} dport {r.port} accept {comment}")
        if v4:
            lines.append(f"    ip saddr {{ {', '.join(v4)} }} {r.proto} dport {r.port} accept {comment}")
        if v6:
            lines.append(f"    ip6 saddr {{ {', '.join(v6)} }} {r.proto} dport {r.port} accept {comment}")
    lines += [
        # Reject rather than drop: a refused connection fails at once with "administratively
        # prohibited", which tells the person debugging at 3 a.m. that the firewall said no.
        '    counter reject with icmpx type admin-prohibited comment "default deny"',
        "  }",
        "}",
        "",
    ]
    return "\n".join(lines)
