"""The units and files around MariaDB: the router's health check (socket-activated, one process
per check), the exporter's defaults and login file, and the SQL that creates the database and
its users. Pure; passwords are `{{secret:...}}` placeholders."""

from __future__ import annotations

from components.mariadb import names as n
from components.plan import placeholder
from components.settings import Host, Settings

HEADER = "# Rendered by the platform program (components/mariadb/render/services.py); do not edit."
CHECK_SCRIPT = "/usr/local/lib/platform-mariadb/mariadb-check"
EXPORTER_CNF = "/etc/mysql/platform-exporter.cnf"


def render_check_units(host: Host) -> dict[str, str]:
    socket = "\n".join([
        HEADER,
        "[Unit]",
        "Description=Health check of MariaDB for the router (HTTP, one exchange per connection)",
        "",
        "[Socket]",
        f"ListenStream={host.private_ip}:{n.CHECK_PORT}",
        "Accept=yes",
        # Routers check every second; more than this many checks at once is not a router.
        "MaxConnections=32",
        "FreeBind=yes",
        "",
        "[Install]",
        "WantedBy=sockets.target",
        "",
    ])
    service = "\n".join([
        HEADER,
        "[Unit]",
        "Description=Health check of MariaDB for the router (one check)",
        "",
        "[Service]",
        f"User={n.CHECK_USER}",
        "EnvironmentFile=/etc/default/platform-mariadb-check",
        f"ExecStart={CHECK_SCRIPT}",
        "StandardInput=socket",
        "StandardOutput=socket",
        "StandardError=journal",
        "RuntimeMaxSec=10",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "",
    ])
    return {"platform-mariadb-check.socket": socket, "platform-mariadb-check@.service": service}


def render_check_defaults(settings: Settings) -> str:
    return f"{HEADER}\nGALERA={1 if n.galera(settings) else 0}\nSOCKET={n.SOCKET}\n"


def render_exporter_defaults(host: Host) -> str:
    """/etc/default/prometheus-mysqld-exporter (Debian's unit reads ARGS)."""
    args = [f"--config.my-cnf={EXPORTER_CNF}", f"--web.listen-address={host.private_ip}:{n.EXPORTER_PORT}"]
    return f'{HEADER}\nARGS="{" ".join(args)}"\n'


def render_exporter_cnf() -> str:
    """The exporter's login (over the local socket), readable by the `prometheus` user only."""
    return "\n".join([
        HEADER,
        "[client]",
        f"user = {n.EXPORTER_USER}",
        f"password = {placeholder(n.SECRET_EXPORTER)}",
        f"socket = {n.SOCKET}",
        "",
    ])


def _sql_string(placeholder_text: str) -> str:
    """A SQL string literal around a secret placeholder (generated passwords: letters and digits)."""
    return f"'{placeholder_text}'"


def render_users_sql() -> str:
    """Run as root over the socket: the Mautic database and user (TLS required), the exporter's and
    the health check's users. Idempotent; the passwords are set again each time (a rotated secret)."""
    app = _sql_string(placeholder(n.SECRET_APP))
    exporter = _sql_string(placeholder(n.SECRET_EXPORTER))
    return "\n".join([
        "-- " + HEADER.lstrip("# "),
        f"CREATE DATABASE IF NOT EXISTS `{n.DATABASE}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;",
        f"CREATE USER IF NOT EXISTS '{n.APP_USER}'@'%' IDENTIFIED BY {app} REQUIRE SSL;",
        f"ALTER USER '{n.APP_USER}'@'%' IDENTIFIED BY {app} REQUIRE SSL;",
        f"GRANT ALL PRIVILEGES ON `{n.DATABASE}`.* TO '{n.APP_USER}'@'%';",
        f"CREATE USER IF NOT EXISTS '{n.EXPORTER_USER}'@'localhost' IDENTIFIED BY {exporter} "
        "WITH MAX_USER_CONNECTIONS 3;",
        f"ALTER USER '{n.EXPORTER_USER}'@'localhost' IDENTIFIED BY {exporter} WITH MAX_USER_CONNECTIONS 3;",
        f"GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR, SELECT ON *.* TO '{n.EXPORTER_USER}'@'localhost';",
        f"CREATE USER IF NOT EXISTS '{n.CHECK_USER}'@'localhost' IDENTIFIED VIA unix_socket;",
        "",
    ])
