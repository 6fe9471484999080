"""The firewall matrix: which sources may reach which port on which host, computed from settings.

Every component declares the ports it listens on as `ServicePort`s (who listens, who may connect);
`firewall_matrix` turns the union into per-host rules and `render_nftables` into the host's table.
Inbound traffic not matched by a rule is rejected (default deny). Pure: no Pulumi imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from components.settings import Host, Settings

# A ServicePort names host groups: `all`, every role key and the groups roles belong to
# (components/settings/model.py, ROLES), and the groups components define in their contracts
# (e.g. `etcd`, `router`). Two more name address sets: "admin" is ssh.adminSources, "any" everywhere.


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


def group_hosts(groups: Mapping[str, tuple[Host, ...]], group: str) -> tuple[Host, ...]:
    if group not in groups:
        raise ValueError(f"unknown host group {group!r}; known: {', '.join(sorted(groups))}")
    return groups[group]


def _cidr(ip: str) -> str:
    return f"{ip}/128" if ":" in ip else f"{ip}/32"


def group_sources(settings: Settings, groups: Mapping[str, tuple[Host, ...]], group: str) -> tuple[str, ...]:
    if group == "admin":
        return settings.ssh.admin_sources
    if group == "any":
        return ()
    return tuple(_cidr(h.private_ip) for h in group_hosts(groups, group))


def firewall_matrix(
    settings: Settings, ports: Iterable[ServicePort], component_groups: Mapping[str, tuple[Host, ...]] | None = None,
) -> dict[str, list[Rule]]:
    """host name -> its inbound rules, in a stable order; a host only gets ports it listens on.
    `component_groups`: the host groups the components' contracts define (components/catalog.py)."""
    groups = {**settings.hosts.groups(), **(component_groups or {})}
    matrix: dict[str, list[Rule]] = {h.name: [] for h in settings.hosts.all()}
    for sp in ports:
        port = f"{sp.port[0]}-{sp.port[1]}" if isinstance(sp.port, tuple) else str(sp.port)
        everyone = "any" in sp.sources
        sources: set[str] = set()
        for g in sp.sources:
            sources.update(group_sources(settings, groups, g))
        for g in sp.on:
            for h in group_hosts(groups, g):
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
