"""postgres_exporter and prometheus-pgbouncer-exporter: their defaults, password file and drop-in."""

from __future__ import annotations

from components.plan import placeholder
from components.postgres.names import (
    EXPORTER_PORT,
    MONITORING_USER,
    PG_PORT,
    PGBOUNCER_EXPORTER_LAUNCHER,
    PGBOUNCER_EXPORTER_PGPASS,
    PGBOUNCER_EXPORTER_PORT,
    PGBOUNCER_PORT,
    PGBOUNCER_SOCKET_DIR,
    SECRET_MONITORING,
    SOCKET_DIR,
)
from components.settings import Host


def render_exporter_defaults(host: Host) -> str:
    # URL form on purpose: postgres_exporter logs the DSN of a failed connection and masks the
    # password only when it can parse the DSN as a URL (the key=value form is logged verbatim).
    # The generated password is alphanumeric, so it needs no URL escaping.
    dsn = (f"postgresql://{MONITORING_USER}:{placeholder(SECRET_MONITORING)}@:{PG_PORT}/postgres"
           f"?host={SOCKET_DIR}&sslmode=disable")
    return (
        "# postgres_exporter. Rendered by the platform program; listens on the private address only.\n"
        f"DATA_SOURCE_NAME='{dsn}'\n"
        f'ARGS="--web.listen-address={host.private_ip}:{EXPORTER_PORT}"\n'
    )


def render_pgbouncer_exporter(host: Host) -> str:
    """/etc/prometheus-pgbouncer-exporter.conf (ConfigArgParse `key = value`, the exporter's long
    option names). It reads PgBouncer's admin console (the virtual `pgbouncer` database) as the stats
    user over PgBouncer's own Unix socket: no TLS there (client_tls_sslmode applies to TCP clients),
    SCRAM against userlist.txt. The exporter has no password option: libpq reads it from
    PGPASSFILE (render_pgbouncer_exporter_pgpass, set by render_pgbouncer_exporter_unit)."""
    return (
        "# prometheus-pgbouncer-exporter. Rendered by the platform program (components/postgres/render.py).\n"
        "# Metrics on the private address only; PgBouncer's admin console over its Unix socket.\n"
        f"host = {host.private_ip}\n"
        f"port = {PGBOUNCER_EXPORTER_PORT}\n"
        f"pgbouncer-host = {PGBOUNCER_SOCKET_DIR}\n"
        f"pgbouncer-port = {PGBOUNCER_PORT}\n"
        f"pgbouncer-user = {MONITORING_USER}\n"
    )


def render_pgbouncer_exporter_pgpass() -> str:
    """libpq password file of the exporter (0600, owned by the user it runs as). Host `*`: libpq
    matches a socket directory other than its compiled-in default only literally. The generated
    password is alphanumeric, so it needs no `:`/`\\` escaping."""
    return f"*:{PGBOUNCER_PORT}:pgbouncer:{MONITORING_USER}:{placeholder(SECRET_MONITORING)}\n"


def render_pgbouncer_exporter_unit() -> str:
    """systemd drop-in for the package's unit (User=postgres, BindsTo=pgbouncer.service, CONFIG=the
    .conf above): run it through the launcher (host/pgbouncer_exporter.py: PgBouncer >= 1.8 stats,
    reconnects), give libpq the password file, restart it if it exits (e.g. PgBouncer not yet up)."""
    return (
        "# Rendered by the platform program (components/postgres/render.py).\n"
        "[Service]\n"
        "ExecStart=\n"
        f"ExecStart=/usr/bin/python3 {PGBOUNCER_EXPORTER_LAUNCHER}\n"
        f"Environment=PGPASSFILE={PGBOUNCER_EXPORTER_PGPASS}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
    )
