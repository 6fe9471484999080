"""Pure renderers for the files HostBaseline installs on every VM."""

from __future__ import annotations

from collections.abc import Sequence

from components.settings import Host, Settings

NODE_EXPORTER_PORT = 9100


def render_hosts_block(settings: Settings) -> str:
    """The platform's block of /etc/hosts: every VM by name, on its private address."""
    lines = [f"{h.private_ip} {h.name}" for h in sorted(settings.hosts.all(), key=lambda h: h.name)]
    return "\n".join(lines) + "\n"


def render_sysctl() -> str:
    return "\n".join([
        "# Rendered by the platform program (components/baseline/render.py).",
        "# Detect dead peers (router -> PgBouncer, clients -> Redis) in minutes, not hours.",
        "net.ipv4.tcp_keepalive_time = 120",
        "net.ipv4.tcp_keepalive_intvl = 15",
        "net.ipv4.tcp_keepalive_probes = 5",
        "net.core.somaxconn = 4096",
        "net.ipv4.tcp_max_syn_backlog = 4096",
        "net.ipv4.ip_local_port_range = 10240 65000",
        "fs.inotify.max_user_instances = 1024",
        "# Databases should not be swapped out to keep the page cache.",
        "vm.swappiness = 10",
        "",
    ])


def render_auto_upgrades() -> str:
    return 'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n'


def render_unattended_upgrades(held_packages: Sequence[str]) -> str:
    """Stateful services restart when their package is upgraded; on a database VM that is an
    unplanned failover. They are upgraded deliberately, one node at a time, not by the timer:
    `held_packages` are the components' (Contract.held_packages)."""
    held = "\n".join(f'    "{p}";' for p in held_packages)
    return (
        "// Rendered by the platform program (components/baseline/render.py).\n"
        "// Security updates install by themselves; stateful services are upgraded by hand, node by node.\n"
        "Unattended-Upgrade::Package-Blacklist {\n"
        f"{held}\n"
        "};\n"
        'Unattended-Upgrade::Automatic-Reboot "false";\n'
    )


def render_node_exporter_defaults(host: Host) -> str:
    return (
        "# Rendered by the platform program. Listen on the private address only.\n"
        f'ARGS="--web.listen-address={host.private_ip}:{NODE_EXPORTER_PORT}"\n'
    )


def render_admin_sources(settings: Settings) -> str:
    """The SSH sources the firewall allows, one per line; the script refuses to lock its caller out."""
    return "\n".join(settings.ssh.admin_sources) + "\n"
