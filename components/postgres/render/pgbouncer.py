"""PgBouncer: pgbouncer.ini per node and the userlist of the roles it authenticates itself."""

from __future__ import annotations

from components.plan import placeholder
from components.postgres.names import (
    MONITORING_USER,
    PG_PORT,
    PGBOUNCER_AUTH_USER,
    PGBOUNCER_PORT,
    PGBOUNCER_SOCKET_DIR,
    PGBOUNCER_TLS,
    SECRET_MONITORING,
    SECRET_PGBOUNCER_AUTH,
    SOCKET_DIR,
)
from components.settings import Host, Settings

BUS_DATABASE = "postgres"


def pool_size(settings: Settings) -> int:
    """Server connections per database pool: max_connections less headroom, shared by the databases."""
    pg = settings.postgres
    return max(5, (pg.max_connections - 15) // (len(pg.databases) + 1))  # + the `postgres` pool


def render_pgbouncer(settings: Settings, host: Host) -> str:
    pg = settings.postgres
    dbs = []
    for db in pg.databases:
        mode = pg.pool_mode_overrides.get(db, pg.pool_mode)
        dbs.append(f"{db} = host={SOCKET_DIR} port={PG_PORT} dbname={db} pool_mode={mode}")
    # Odoo's bus LISTENs and NOTIFYs in `postgres` (one channel for all its databases,
    # odoo/addons/bus/models/bus.py); both need one server connection per client: session mode.
    dbs.append(f"{BUS_DATABASE} = host={SOCKET_DIR} port={PG_PORT} dbname={BUS_DATABASE} pool_mode=session")
    size = pool_size(settings)
    lines = [
        f"; PgBouncer of {host.name}. Rendered by the platform program (components/postgres/render.py).",
        "[databases]",
        *dbs,
        "",
        "[pgbouncer]",
        f"listen_addr = {host.private_ip},127.0.0.1",
        f"listen_port = {PGBOUNCER_PORT}",
        f"unix_socket_dir = {PGBOUNCER_SOCKET_DIR}",
        f"pidfile = {PGBOUNCER_SOCKET_DIR}/pgbouncer.pid",
        "logfile = /var/log/postgresql/pgbouncer.log",
        "auth_type = scram-sha-256",
        "auth_file = /etc/pgbouncer/userlist.txt",
        # App roles are looked up in PostgreSQL (no copy of their verifiers here) by a dedicated
        # role through a SECURITY DEFINER function that exists in every app database.
        f"auth_user = {PGBOUNCER_AUTH_USER}",
        "auth_query = SELECT username, password FROM pgbouncer.get_auth($1)",
        f"pool_mode = {pg.pool_mode}",
        f"default_pool_size = {size}",
        "min_pool_size = 0",
        "reserve_pool_size = 5",
        f"max_db_connections = {size + 5}",
        "max_client_conn = 2000",
        "server_reset_query = DISCARD ALL",
        "server_check_delay = 10",
        # After PostgreSQL restarts on this node (crash, Patroni restart), retry the server login
        # after 1 s instead of failing clients for the default 15 s.
        "server_login_retry = 1",
        # pgjdbc (Keycloak) sends extra_float_digits at startup.
        "ignore_startup_parameters = extra_float_digits,options",
        f"stats_users = {MONITORING_USER}",
        "admin_users =",
        # TLS for clients arriving over TCP (the router passes TLS through untouched).
        "client_tls_sslmode = require",
        f"client_tls_cert_file = {PGBOUNCER_TLS}/host.crt",
        f"client_tls_key_file = {PGBOUNCER_TLS}/host.key",
        f"client_tls_ca_file = {PGBOUNCER_TLS}/ca.crt",
        "client_tls_protocols = secure",
        "",
    ]
    return "\n".join(lines)


def render_userlist() -> str:
    """Only the roles PgBouncer itself needs a password for (auth_query user, stats user)."""
    return "".join(
        f'"{u}" "{placeholder(s)}"\n'
        for u, s in ((PGBOUNCER_AUTH_USER, SECRET_PGBOUNCER_AUTH), (MONITORING_USER, SECRET_MONITORING))
    )
