"""HostBaseline: what every platform VM gets before any service is installed on it.

Inputs: the validated Settings, one Host, and the ServicePorts of every component (for the
firewall matrix). Outputs: `ready` (the firewall step; depend on it, not on the component).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pulumi

from components.baseline import render
from components.firewall import Rule, render_nftables
from components.remote import StepSpec, host_step
from components.settings import Host, Settings

HOST_DIR = Path(__file__).parent / "host"
NFTABLES_CONF = (
    "#!/usr/sbin/nft -f\n"
    "# Rendered by the platform program: load only the platform's own table; tables that other\n"
    "# software (K3s, iptables-nft) keeps are not flushed.\n"
    'include "/etc/nftables.d/*.nft"\n'
)


def baseline_files(settings: Settings, host: Host) -> dict[str, str]:
    return {
        "hosts.block": render.render_hosts_block(settings),
        "60-platform.conf": render.render_sysctl(),
        "20auto-upgrades": render.render_auto_upgrades(),
        "51platform-unattended": render.render_unattended_upgrades(),
        "node-exporter.default": render.render_node_exporter_defaults(host),
    }


def firewall_files(settings: Settings, host: Host, rules: Sequence[Rule]) -> dict[str, str]:
    trusted = ("cni0", "flannel.1") if host.role in ("k3sServers", "k3sAgents") else ()
    return {
        "platform.nft": render_nftables(host.name, rules, trusted),
        "nftables.conf": NFTABLES_CONF,
        "admin-sources": render.render_admin_sources(settings),
    }


class HostBaseline(pulumi.ComponentResource):
    ready: pulumi.Resource

    def __init__(
        self,
        settings: Settings,
        host: Host,
        rules: Sequence[Rule],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:baseline:HostBaseline", host.name, None, opts)
        base = host_step(settings, StepSpec(
            name=f"{host.name}-baseline", host=host, script=HOST_DIR / "baseline.sh",
            files=baseline_files(settings, host), params={"HOST_NAME": host.name},
        ), parent=self)
        self.ready = host_step(settings, StepSpec(
            name=f"{host.name}-firewall", host=host, script=HOST_DIR / "firewall.sh",
            files=firewall_files(settings, host, rules), params={"SSH_PORT": str(settings.ssh.port)},
            depends_on=[base],
        ), parent=self)
        self.register_outputs({"ready": self.ready.id})
