"""The router's MariaDB listener (HAProxy `listen mariadb_rw`)."""

from __future__ import annotations

from components.mariadb import names as n
from components.settings import Settings


def router_section(settings: Settings) -> str:
    """All clients on one node at a time. Each node is checked over HTTP (platform-mariadb-check:
    200 only when MariaDB answers, is not read-only and, with Galera, is Synced in the Primary
    component). A one-entry stick table pins every connection to the node chosen first and keeps
    it there while it stays up, so a node that comes back gets no traffic until the current one
    fails (no second move, no writes on two nodes at once from one router); when the pinned node
    fails its check, its sessions are shut down and new ones go to the next healthy node. TLS passes
    through end to end (MariaDB requires it of remote clients)."""
    lines = [
        "# MariaDB (Mautic): the one writable node (components/mariadb/render/router.py).",
        "listen mariadb_rw",
        f"    bind :{n.ROUTER_PORT}",
        "    mode tcp",
        "    option tcplog",
        "    timeout client 30m",
        "    timeout server 30m",
        "    timeout connect 2s",
        "    timeout check 2s",
        "    option httpchk",
        "    http-check send meth GET uri /",
        "    http-check expect status 200",
        "    stick-table type integer size 1",
        "    stick on int(1)",
        "    balance first",
        f"    default-server port {n.CHECK_PORT} inter 1s fastinter 500ms downinter 1s rise 2 fall 2 "
        "on-marked-down shutdown-sessions",
    ]
    for h in n.data_hosts(settings):
        lines.append(f"    server {h.name} {h.private_ip}:{n.MARIADB_PORT} check")
    return "\n".join(lines) + "\n"
