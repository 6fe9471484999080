"""The router's HAProxy configuration, rendered once for every placement (edge VMs or K3s).

Clients reach the PostgreSQL primary through the router: port 5000 goes to PgBouncer (6432) on
the node that Patroni reports as primary, 5001 to the replicas. The Redis component appends its
own listener through `extra_sections`. Pure: no Pulumi imports.

Per-host values are not rendered into the file: the stats listener binds `${PLATFORM_PRIVATE_IP}`,
which HAProxy expands from its environment (/etc/default/haproxy on VMs, the pod IP in K3s).
"""

from __future__ import annotations

from collections.abc import Sequence

from components.postgres.names import PATRONI_PORT, PGBOUNCER_PORT
from components.settings import Host, Settings

PRIMARY_PORT = 5000
REPLICA_PORT = 5001
STATS_PORT = 7000
CA_FILE = "/etc/haproxy/platform-ca.pem"
PRIVATE_IP_ENV = "PLATFORM_PRIVATE_IP"
# In-cluster names of the router Services when router.placement is k3s (components/apps/names.py
# defines them; repeated here, where the apps package cannot be imported, and tied by a unit test).
K3S_SERVICES = {PRIMARY_PORT: ("postgres-rw", 5432), REPLICA_PORT: ("postgres-ro", 5432),
                6379: ("redis-master", 6379), 3306: ("mariadb-rw", 3306)}

# The PgBouncer probe: a GSSENCRequest packet (length 8, code 80877104). A live PgBouncer answers
# with one byte, 'N' (0x4e: no GSSAPI encryption), and forgets a connection closed right after it
# without a log line; a dead one refuses the connection, a hung one times out. (An SSLRequest got
# 'S' too, but PgBouncer then waits in the TLS handshake: one WARNING per check, and a login slot
# held for client_login_timeout.)
PROBE_HEX = "0000000804d21630"


# Patroni's GET /primary answers 200 as soon as the node holds the leader key - also while its
# PostgreSQL is still a standby that is about to be promoted (after a full restart it starts as one):
# clients routed then got "cannot execute INSERT in a read-only transaction" for ~2 s. The body's
# role becomes master (Patroni 3.0; primary in 4.x) only once pg_controldata says "in production".
PRIMARY_ROLE_RE = '\\"role\\": \\"(master|primary)\\"'


def _pg_backend(settings: Settings, name: str, port: int, endpoint: str, balance: str) -> list[str]:
    primary = endpoint == "/primary"
    method = "GET" if primary else "OPTIONS"
    lines = [
        f"listen {name}",
        f"    bind :{port}",
        "    mode tcp",
        "    option tcplog",
        f"    balance {balance}",
        "    # Long-lived database sessions: no idle timeout shorter than the apps' pools expect.",
        "    timeout client 30m",
        "    timeout server 30m",
        # Patroni's `OPTIONS /primary` health check, run as a tcp-check sequence rather than
        # `option httpchk`: an http-check rule set cannot send the binary PostgreSQL probe, and
        # the router must also drop a node whose PgBouncer is dead while its Patroni is healthy.
        # Each `connect` opens a new connection; any failing rule fails the whole check, so a
        # server is UP only when BOTH PgBouncer answers and Patroni reports the wanted role
        # (proven against loopback fakes: "Connection refused at step 1" / "did not match at step 6").
        "    option tcp-check",
        "    # 1. PgBouncer is up: it answers a PostgreSQL GSSENCRequest with 'N'.",
        f"    tcp-check connect port {PGBOUNCER_PORT}",
        f"    tcp-check send-binary {PROBE_HEX}",
        "    tcp-check expect rbinary ^(4e|4E)",
        f"    # 2. Patroni says this node is the {endpoint.strip('/')} (REST API over TLS).",
        f"    tcp-check connect port {PATRONI_PORT} ssl",
        f'    tcp-check send "{method} {endpoint} HTTP/1.0\\r\\n\\r\\n"',
        '    tcp-check expect rstring "^HTTP/1\\.[01] 200"',
        *(["    # 3. ... and its PostgreSQL is out of recovery (the role in the answer's body).",
           f'    tcp-check expect rstring "{PRIMARY_ROLE_RE}"'] if primary else []),
        # rise 1: a node that Patroni reports as primary holds the leader key; one good check is
        # proof enough, and every second counts after a failover.
        "    default-server inter 1s fastinter 500ms downinter 1s fall 2 rise 1 "
        f"on-marked-down shutdown-sessions check-ssl verify required ca-file {CA_FILE}",
    ]
    for h in settings.hosts["postgres"]:
        lines.append(f"    server {h.name} {h.private_ip}:{PGBOUNCER_PORT} check verifyhost {h.name}")
    return lines


def _global(in_cluster: bool) -> list[str]:
    if in_cluster:
        # In K3s (components/apps/render/router.py): the container runs as the image's haproxy
        # user in the foreground and logs to stdout; the socket is on an emptyDir.
        return ["    log stdout format raw local0", "    maxconn 4000"]
    return ["    log /dev/log local0", "    maxconn 4000", "    user haproxy", "    group haproxy", "    daemon"]


def render_haproxy(settings: Settings, extra_sections: Sequence[str] = (), in_cluster: bool = False) -> str:
    """haproxy.cfg for every router host (`in_cluster`: the K3s Deployment, which differs only in
    its `global` section); `extra_sections` (complete sections) are appended."""
    lines = [
        "# HAProxy router of the platform. Rendered by the platform program",
        "# (components/router/render.py); do not edit. Validate with `haproxy -c -f`.",
        "global",
        *_global(in_cluster),
        "    stats socket /run/haproxy/admin.sock mode 660 level admin",
        "    ssl-default-server-options ssl-min-ver TLSv1.2",
        "",
        "defaults",
        "    log global",
        "    mode tcp",
        "    option dontlognull",
        "    retries 2",
        "    timeout connect 3s",
        "    timeout check 2s",
        "    timeout client 30m",
        "    timeout server 30m",
        "",
        "# PostgreSQL read-write: PgBouncer on the current Patroni primary.",
        *_pg_backend(settings, "postgres_primary", PRIMARY_PORT, "/primary", "first"),
        "",
        "# PostgreSQL read-only: PgBouncer on the streaming replicas.",
        *_pg_backend(settings, "postgres_replicas", REPLICA_PORT, "/replica", "roundrobin"),
        "",
        "# Server states for people and monitoring, on the private address only.",
        "listen stats",
        f'    bind "${{{PRIVATE_IP_ENV}}}:{STATS_PORT}"',
        "    mode http",
        "    timeout client 30s",
        "    timeout server 30s",
        "    stats enable",
        "    stats uri /",
        "    stats refresh 5s",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "",
    ]
    for section in extra_sections:
        lines += [section.rstrip("\n"), ""]
    return "\n".join(lines)


def router_hosts(settings: Settings) -> tuple[Host, ...]:
    """Where the database/Redis router runs: the edge VMs, or the K3s nodes that host it."""
    if settings.router.placement == "vms":
        return settings.hosts["edge"]
    return settings.hosts["k3sServers"] + settings.hosts["k3sAgents"]


def endpoint(settings: Settings, port: int = PRIMARY_PORT) -> str:
    """host:port clients use: the first edge VM, or the router Service inside K3s."""
    if settings.router.placement == "vms" and settings.hosts["edge"]:
        return f"{settings.hosts['edge'][0].private_ip}:{port}"
    name, service_port = K3S_SERVICES[port]
    return f"{name}.platform.svc.cluster.local:{service_port}"


def render_defaults(private_ip: str) -> str:
    """/etc/default/haproxy on an edge VM: the address the stats listener binds."""
    return (
        "# Rendered by the platform program (components/router).\n"
        f"{PRIVATE_IP_ENV}={private_ip}\n"
    )
