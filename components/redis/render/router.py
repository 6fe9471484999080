"""The router's Redis listener (HAProxy `listen redis`)."""

from __future__ import annotations

from components.redis.names import REDIS_PORT, ROUTER_PORT, SECRET_HEALTHCHECK, data_hosts
from components.router import render as router_render
from components.settings import Settings


def router_section(settings: Settings) -> str:
    """HAProxy `listen redis` for clients that cannot speak Sentinel (Nextcloud).

    Each data node is checked with AUTH (ACL user `healthcheck`), PING and `INFO replication`
    expecting `role:master`. Two masters are never used at once: a one-entry stick table pins
    every connection to the master chosen first and keeps it pinned while that server stays up,
    so a former master that briefly reports `role:master` again (it should not: the start-up
    guard makes it a replica) gets no traffic; `rise 2` also delays it. When the pinned master
    stops being master, its sessions are shut down and new ones go to the new master.
    The password is a `{{secret:redis_healthcheck}}` placeholder: the router step must receive
    that secret (RedisSentinelCluster.router_secrets).
    """
    # redis.tls: TLS passes through the router end to end (like PgBouncer's); only the checks
    # speak TLS themselves. Clients verify the CA but not the name (the certificate names the node).
    ssl = f" check-ssl verify required ca-file {router_render.CA_FILE}" if settings.redis.tls else ""
    lines = [
        "# Redis master for clients without Sentinel support (components/redis/render.py).",
        "listen redis",
        f"    bind :{ROUTER_PORT}",
        "    mode tcp",
        "    timeout client 1h",
        "    timeout server 1h",
        "    timeout connect 2s",
        "    timeout check 2s",
        "    option clitcpka",
        "    option srvtcpka",
        "    option tcp-check",
        # No explicit `tcp-check connect`: the implicit one uses the server line (check-ssl with TLS).
        f'    tcp-check send "AUTH healthcheck {{{{secret:{SECRET_HEALTHCHECK}}}}}\\r\\n"',
        "    tcp-check expect string +OK",
        '    tcp-check send "PING\\r\\n"',
        "    tcp-check expect string +PONG",
        '    tcp-check send "INFO replication\\r\\n"',
        "    tcp-check expect string role:master",
        '    tcp-check send "QUIT\\r\\n"',
        "    tcp-check expect string +OK",
        "    stick-table type integer size 1",
        "    stick on int(1)",
        "    balance first",
        f"    default-server inter 500ms fastinter 250ms downinter 500ms rise 2 fall 2 "
        f"on-marked-down shutdown-sessions{ssl}",
    ]
    for h in data_hosts(settings):
        lines.append(f"    server {h.name} {h.private_ip}:{REDIS_PORT} check")
    return "\n".join(lines) + "\n"
