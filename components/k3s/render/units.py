"""The systemd units of K3s (`k3s.service` on servers, `k3s-agent.service` on agents). Written by
the platform rather than by K3s's install script, so that the unit is rendered, reviewed in
`scripts/render` and hashed into the step's triggers like every other file; the settings are
those of the install script's own unit."""

from __future__ import annotations

from components.k3s.names import BINARY
from components.settings import Host


def unit_name(host: Host) -> str:
    return "k3s.service" if host.role == "k3sServers" else "k3s-agent.service"


def render_unit(host: Host) -> str:
    server = host.role == "k3sServers"
    return "\n".join([
        "# Rendered by the platform program (components/k3s/render/units.py); do not edit.",
        "[Unit]",
        f"Description=Lightweight Kubernetes ({'server' if server else 'agent'})",
        "Documentation=https://docs.k3s.io",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        # A server reports readiness over sd_notify; an agent only once it registered, which can
        # wait for the servers: `exec` there, as the install script does.
        f"Type={'notify' if server else 'exec'}",
        "EnvironmentFile=-/etc/default/%N",
        # Containers outlive a restart of K3s (an upgrade restarts the service, not the pods).
        "KillMode=process",
        "Delegate=yes",
        "LimitNOFILE=1048576",
        "LimitNPROC=infinity",
        "LimitCORE=infinity",
        "TasksMax=infinity",
        "TimeoutStartSec=0",
        "Restart=always",
        "RestartSec=5s",
        "ExecStartPre=-/sbin/modprobe br_netfilter",
        "ExecStartPre=-/sbin/modprobe overlay",
        f"ExecStart={BINARY} {'server' if server else 'agent'}",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])
