"""The MariaDB cluster's steps, computed from settings (pure; component.py registers them).

    <db>-mariadb            packages, TLS, server configuration, health check, the database and
                            users; after the host's baseline and the previous data node's step
                            (the first bootstraps Galera, the others join it; later changes
                            restart one node at a time)
    <witness>-garbd         the Galera arbitrator; after the first data node's step
    <db>-mariadb-exporter   prometheus-mysqld-exporter; after the host's mariadb step
    <db>-mariadb-backup     backup/restore scripts, s3cmd, the full and incremental timers; after
                            the host's mariadb step and the backups bucket
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from components.baseline.plan import ready_step
from components.contract import Contract
from components.mariadb import names as n
from components.mariadb import render
from components.plan import FileValue, Password, Plan, SecretValue, Step, bucket_ref, host_tls, s3_credentials
from components.settings import Host, Settings

HOST_DIR = Path(__file__).parent / "host"
FILES_DIR = Path(__file__).parent / "files"


def _tls(host: Host) -> tuple[dict[str, FileValue], dict[str, SecretValue]]:
    return host_tls(host, "ca.crt", "host.crt", n.SECRET_TLS_KEY, key_file="host.key")


def recover_files(settings: Settings, host: Host) -> dict[str, FileValue]:
    return {"mariadb-recover": (FILES_DIR / "mariadb-recover.sh").read_text(),
            "recover.default": render.render_recover_defaults(settings, host), **render.render_recover_units()}


def plan(settings: Settings, contracts: Sequence[Contract] = ()) -> Plan:
    if not settings.mariadb.enabled:
        return Plan()
    data = n.data_hosts(settings)
    app, exporter = Password(n.PASSWORD_APP), Password(n.PASSWORD_EXPORTER)
    galera = "1" if n.galera(settings) else "0"
    server_steps: list[Step] = []
    for h in data:
        tls_files, tls_secrets = _tls(h)
        server_steps.append(Step(
            name=f"{h.name}-mariadb", host=h, script=HOST_DIR / "mariadb.sh",
            files={
                "90-platform.cnf": render.render_server_cnf(settings, h),
                "users.sql": render.render_users_sql(),
                "mariadb-check": (FILES_DIR / "mariadb-check.sh").read_text(),
                "check.default": render.render_check_defaults(settings),
                **render.render_check_units(h),
                **(recover_files(settings, h) if galera == "1" else {}),
                **tls_files,
            },
            secrets={n.SECRET_APP: app, n.SECRET_EXPORTER: exporter, **tls_secrets},
            params={"GALERA": galera, "BOOTSTRAP": "1" if h == n.bootstrap_host(settings) else "0",
                    "PEERS": " ".join(p.private_ip for p in data if p != h),
                    "MEMBERS": str(len(n.members(settings))), "CHECK_PORT": str(n.CHECK_PORT)},
            after=(ready_step(h), *(s.name for s in server_steps[-1:])),
        ))
    steps = list(server_steps)
    arb = n.arbitrator_host(settings)
    if arb is not None:
        tls_files, tls_secrets = _tls(arb)
        steps.append(Step(
            name=f"{arb.name}-garbd", host=arb, script=HOST_DIR / "arbitrator.sh",
            files={"garb.default": render.render_garb_defaults(settings),
                   "garb-dropin.conf": render.render_garb_dropin(),
                   "garb-watch": (FILES_DIR / "garb-watch.sh").read_text(),
                   "garb-watch.default": render.render_garb_watch_defaults(settings),
                   **render.render_garb_watch_units(), **tls_files},
            secrets=tls_secrets, after=(ready_step(arb), server_steps[0].name),
        ))
    for h in data:
        steps.append(Step(
            name=f"{h.name}-mariadb-exporter", host=h, script=HOST_DIR / "exporter.sh",
            files={"exporter.default": render.render_exporter_defaults(h),
                   "exporter.cnf": render.render_exporter_cnf()},
            secrets={n.SECRET_EXPORTER: exporter}, after=(f"{h.name}-mariadb",),
        ))
    for h in data:
        files: dict[str, FileValue] = {
            "s3cfg": render.render_s3cfg(settings),
            "backup.env": render.render_backup_env(settings, h),
            "mariadb-backup": (FILES_DIR / "mariadb-backup.sh").read_text(),
            "mariadb-restore": (FILES_DIR / "mariadb-restore.sh").read_text(),
            **render.render_backup_units(settings),
        }
        if settings.s3.ca_certificate:
            files["s3-ca.pem"] = settings.s3.ca_certificate
        steps.append(Step(
            name=f"{h.name}-mariadb-backup", host=h, script=HOST_DIR / "backup.sh", files=files,
            secrets=s3_credentials(), after=(f"{h.name}-mariadb", bucket_ref("backups")),
        ))
    return Plan(steps=tuple(steps), passwords=(n.PASSWORD_APP, n.PASSWORD_EXPORTER))
