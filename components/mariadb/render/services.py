"""The units and files around MariaDB: the router's health check (socket-activated, one process
per check), the exporter's defaults and login file, and the SQL that creates the database and
its users. Pure; passwords are `{{secret:...}}` placeholders."""

from __future__ import annotations

from components.mariadb import names as n
from components.plan import placeholder
from components.settings import Host, Settings
from components.systemd import oneshot_timer

HEADER = "# Rendered by the platform program (components/mariadb/render/services.py); do not edit."
CHECK_SCRIPT = "/usr/local/lib/platform-mariadb/mariadb-check"
RECOVER_SCRIPT = "/usr/local/lib/platform-mariadb/mariadb-recover"
GARB_WATCH_SCRIPT = "/usr/local/lib/platform-garb/garb-watch"
RECOVER_TICK_S = 5  # how often each data node looks at the cluster after an outage
RECOVER_GRACE_S = 15  # a start with no Primary component anywhere is stuck after this long
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


def _every_few_seconds(name: str, description: str, exec_start: str, timeout_s: int) -> dict[str, str]:
    """A oneshot `name`.service with /etc/default/`name`, run RECOVER_TICK_S after it last finished."""
    service, timer = oneshot_timer(
        HEADER, description, exec_start, f"{RECOVER_TICK_S}s", boot=f"{RECOVER_TICK_S}s", accuracy="1s",
        after="network-online.target", wants="network-online.target", env_file=f"/etc/default/{name}",
        timeout_s=timeout_s, after_finish=True, timer_description=f"Run {name} every few seconds")
    return {f"{name}.service": service, f"{name}.timer": timer}


def render_recover_units() -> dict[str, str]:
    """The full-outage recovery agent (files/mariadb-recover.sh) on every Galera data node; it acts
    only when no node is in the Primary component. Position recovery runs InnoDB crash recovery and
    a bootstrap waits for the server to start: up to 15 minutes."""
    return _every_few_seconds(
        "platform-mariadb-recover",
        "Galera recovery after a full outage (bootstraps the most advanced node once every node reported)",
        RECOVER_SCRIPT, 900)


def render_garb_watch_units() -> dict[str, str]:
    """On the arbitrator's host (files/garb-watch.sh): a fresh garbd while no data node is Primary."""
    return _every_few_seconds("platform-garb-watch", "Restart garbd while no Galera data node is Primary",
                              GARB_WATCH_SCRIPT, 60)


def render_garb_watch_defaults(settings: Settings) -> str:
    nodes = " ".join(h.private_ip for h in n.data_hosts(settings))
    return f'{HEADER}\nNODES="{nodes}"\nCHECK_PORT={n.CHECK_PORT}\n'


def render_recover_defaults(settings: Settings, host: Host) -> str:
    nodes = " ".join(h.private_ip for h in n.data_hosts(settings))
    return (f'{HEADER}\nNODES="{nodes}"\nSELF={host.private_ip}\nCHECK_PORT={n.CHECK_PORT}\n'
            f"GRACE_S={RECOVER_GRACE_S}\n")


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
