"""HostBaseline's steps: on every VM `<host>-baseline` (identity, time, updates, sysctl,
node_exporter), then `<host>-firewall` (the nftables table from every component's ports). The
firewall step is the host's "ready" step: components depend on it (`ready_step`). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from components.baseline import render
from components.contract import Contract, all_groups, all_ports, held_packages
from components.firewall import Rule, firewall_matrix, render_nftables
from components.plan import Plan, Step
from components.settings import ROLES, Host, Settings

HOST_DIR = Path(__file__).parent / "host"
NFTABLES_CONF = (
    "#!/usr/sbin/nft -f\n"
    "# Rendered by the platform program: load only the platform's own table; tables that other\n"
    "# software (K3s, iptables-nft) keeps are not flushed.\n"
    'include "/etc/nftables.d/*.nft"\n'
)
TRUSTED_IFACES = {r.key: r.trusted_ifaces for r in ROLES}


def ready_step(host: Host | str) -> str:
    """The step after which a host has its baseline and firewall: what other steps run after."""
    return f"{host if isinstance(host, str) else host.name}-firewall"


def baseline_files(settings: Settings, host: Host, held: Sequence[str]) -> dict[str, str]:
    return {
        "hosts.block": render.render_hosts_block(settings),
        "60-platform.conf": render.render_sysctl(),
        "20auto-upgrades": render.render_auto_upgrades(),
        "51platform-unattended": render.render_unattended_upgrades(held),
        "node-exporter.default": render.render_node_exporter_defaults(host),
    }


def firewall_files(settings: Settings, host: Host, rules: Sequence[Rule]) -> dict[str, str]:
    return {
        "platform.nft": render_nftables(host.name, rules, TRUSTED_IFACES[host.role]),
        "nftables.conf": NFTABLES_CONF,
        "admin-sources": render.render_admin_sources(settings),
    }


def plan(settings: Settings, contracts: Sequence[Contract]) -> Plan:
    matrix = firewall_matrix(settings, all_ports(contracts), all_groups(contracts))
    held = held_packages(contracts)
    steps: list[Step] = []
    for h in settings.hosts.all():
        base = Step(name=f"{h.name}-baseline", host=h, script=HOST_DIR / "baseline.sh",
                    files=baseline_files(settings, h, held), params={"HOST_NAME": h.name})
        steps += [base, Step(name=ready_step(h), host=h, script=HOST_DIR / "firewall.sh",
                             files=firewall_files(settings, h, matrix[h.name]),
                             params={"SSH_PORT": str(settings.ssh.port)}, after=(base.name,))]
    return Plan(steps=tuple(steps))
