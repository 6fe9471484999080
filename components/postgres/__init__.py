"""PostgresHACluster: PostgreSQL 15 + Patroni + etcd + PgBouncer + pgBackRest + postgres_exporter +
prometheus-pgbouncer-exporter.

Inputs: settings, the internal CA, each host's baseline `ready` step, the backups bucket.
Steps (components/postgres/host/*.sh), each on one host, with explicit dependencies:

    <member>-etcd        every etcd member (database VMs + witness)   after its baseline and the
                                                                        previous member (rolling)
    <db>-postgres        every database VM                             after ALL etcd steps;
                                                                        replicas also after the
                                                                        leader's pgbackrest step
    <leader>-databases   first database VM (acts on the current primary)  after its postgres step
    <db>-pgbouncer       every database VM                             after databases
    <db>-pgbackrest      every database VM (stanza/backup on the primary)  after its postgres step
    <db>-exporter        every database VM                             after databases
    <db>-pgbouncer-exporter  every database VM                         after its pgbouncer step

Outputs (attributes, registered): router_endpoint, pgbouncers, apps (secret passwords/DSNs),
ca_certificate, scrape_targets, ready (the steps later components may depend on).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import pulumi_random as random

from components.pki import InternalCA, secret
from components.postgres import render
from components.remote import StepSpec, host_step
from components.router.render import endpoint as router_endpoint
from components.settings import Settings

HOST_DIR = Path(__file__).parent / "host"
FILES_DIR = Path(__file__).parent / "files"
TMPFILES = ("# Rendered by the platform program: PgBouncer's own socket directory.\n"
            "d /run/pgbouncer 2775 postgres postgres -\n")


def dsn(db: str, endpoint: str, password: str) -> str:
    """libpq URI through the router; PgBouncer requires TLS (the router passes it through)."""
    return f"postgresql://{db}:{password}@{endpoint}/{db}?sslmode=require"


class PostgresHACluster(pulumi.ComponentResource):
    router_endpoint: str
    pgbouncers: dict[str, str]
    apps: dict[str, dict[str, Any]]
    ca_certificate: pulumi.Output[str]
    scrape_targets: dict[str, list[str]]
    ready: pulumi.Resource
    steps: dict[str, pulumi.Resource]

    def __init__(
        self,
        settings: Settings,
        ca: InternalCA,
        host_ready: Mapping[str, pulumi.Resource],
        backups_bucket: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:postgres:PostgresHACluster", settings.postgres.cluster_name, None, opts)
        if settings.secrets is None:
            raise ValueError("settings were parsed without secrets; use load_settings()")
        pg = settings.postgres
        child = pulumi.ResourceOptions(parent=self)
        dbs = settings.hosts.postgres
        leader = dbs[0]

        def password(name: str) -> pulumi.Output[str]:
            pw = random.RandomPassword(f"{pg.cluster_name}-{name}", length=32, special=False, opts=child)
            return secret(pw.result)

        secrets: dict[str, pulumi.Output[str]] = {
            render.SECRET_SUPERUSER: password("superuser"),
            render.SECRET_REPLICATION: password("replication"),
            render.SECRET_REWIND: password("rewind"),
            render.SECRET_MONITORING: password("monitoring"),
            render.SECRET_BACKUP: password("backup"),
            render.SECRET_PGBOUNCER_AUTH: password("pgbouncer-auth"),
            render.SECRET_PATRONI_API: password("patroni-api"),
            render.SECRET_CIPHER: password("pgbackrest-cipher"),
            render.SECRET_S3_KEY: settings.secrets.s3_access_key,
            render.SECRET_S3_SECRET: settings.secrets.s3_secret_key,
        }
        for db in pg.databases:
            secrets[render.app_secret(db)] = password(f"app-{db}")

        def pick(*names: str) -> dict[str, pulumi.Output[str]]:
            return {n: secrets[n] for n in names}

        ca_pem = ca.cert_pem
        steps: dict[str, pulumi.Resource] = {}

        # 1. etcd on every member (database VMs + witness).
        etcd_steps: list[pulumi.Resource] = []
        for h in settings.etcd_members():
            cert = ca.issue(h)
            etcd_files: dict[str, pulumi.Input[str]] = {
                "etcd.default": render.render_etcd(settings, h), "join.dropin": render.render_etcd_join_dropin(),
                "ca.crt": ca_pem, "host.crt": cert.cert_pem}
            if h.name == pg.etcd_witness:
                etcd_files |= {"etcd-leader": (FILES_DIR / "etcd-leader.sh").read_text(),
                               **render.render_etcd_leader_units()}
            steps[f"{h.name}-etcd"] = s = host_step(settings, StepSpec(
                name=f"{h.name}-etcd", host=h, script=HOST_DIR / "etcd.sh", files=etcd_files,
                secrets={render.SECRET_HOST_KEY: cert.key_pem},
                params=render.etcd_step_params(settings, h),
                # One member after the other: a restart waits for the member to be healthy again
                # (etcd.sh), so members never restart together and quorum holds.
                depends_on=[host_ready[h.name], *etcd_steps[-1:]],
            ), parent=self)
            etcd_steps.append(s)

        pgbackrest_conf = pulumi.Output.from_input(backups_bucket).apply(
            lambda b: render.render_pgbackrest(settings, b))
        postgres_secrets = pick(
            render.SECRET_SUPERUSER, render.SECRET_REPLICATION, render.SECRET_REWIND,
            render.SECRET_PATRONI_API, render.SECRET_CIPHER, render.SECRET_S3_KEY, render.SECRET_S3_SECRET)

        def postgres_step(h: Any, role: str, after: list[pulumi.Resource]) -> pulumi.Resource:
            cert = ca.issue(h)
            files: dict[str, pulumi.Input[str]] = {
                "config.yml": render.render_patroni(settings, h), "dcs.yml": render.render_dcs(settings),
                "pgbackrest.conf": pgbackrest_conf, "ca.crt": ca_pem, "host.crt": cert.cert_pem,
                "patroni_launcher.py": (HOST_DIR / "patroni_launcher.py").read_text(),
                "patroni.dropin": render.render_patroni_dropin(),
            }
            if settings.s3.ca_certificate:
                files["s3-ca.crt"] = settings.s3.ca_certificate
            return host_step(settings, StepSpec(
                name=f"{h.name}-postgres", host=h, script=HOST_DIR / "postgres.sh", files=files,
                secrets={render.SECRET_HOST_KEY: cert.key_pem, **postgres_secrets},
                params={"PG_VERSION": str(pg.version), "CLUSTER": pg.cluster_name,
                        "DATA_DIR": render.data_dir(settings), "HOST_IP": h.private_ip,
                        "API_PORT": str(render.PATRONI_PORT), "NODE_ROLE": role},
                depends_on=[host_ready[h.name], *etcd_steps, *after],
            ), parent=self)

        def pgbackrest_step(h: Any, after: pulumi.Resource) -> pulumi.Resource:
            return host_step(settings, StepSpec(
                name=f"{h.name}-pgbackrest", host=h, script=HOST_DIR / "pgbackrest.sh",
                files={"platform-pg-backup": render.render_backup_script(settings),
                       "pgbackrest.cron": render.render_backup_cron(settings)},
                params={"STANZA": render.stanza(settings)}, depends_on=[after],
            ), parent=self)

        # 2. The leader bootstraps the cluster, its backups start the repository; replicas are then
        #    restored from that backup (create_replica_methods: pgbackrest, then basebackup).
        steps[f"{leader.name}-postgres"] = leader_pg = postgres_step(leader, "leader", [])
        steps[f"{leader.name}-pgbackrest"] = leader_backup = pgbackrest_step(leader, leader_pg)
        for h in dbs[1:]:
            steps[f"{h.name}-postgres"] = replica = postgres_step(h, "replica", [leader_pg, leader_backup])
            steps[f"{h.name}-pgbackrest"] = pgbackrest_step(h, replica)

        # 3. Databases and roles, on the current primary.
        steps[f"{leader.name}-databases"] = databases = host_step(settings, StepSpec(
            name=f"{leader.name}-databases", host=leader, script=HOST_DIR / "databases.sh",
            files={"roles.tsv": render.render_roles(settings),
                   "databases.tsv": render.render_databases(pg.databases),
                   "appdb.sql": render.render_app_db_sql(),
                   "scram_verifier.py": (HOST_DIR / "scram_verifier.py").read_text()},
            secrets={r.secret: secrets[r.secret] for r in render.roles(settings)}
            | pick(render.SECRET_SUPERUSER),
            params={"HOST_IP": leader.private_ip, "API_PORT": str(render.PATRONI_PORT),
                    "APP_SCRAM_ITERATIONS": str(pg.scram_iterations),
                    "SCRAM_ITERATIONS": str(render.SCRAM_ITERATIONS)},
            depends_on=[leader_pg],
        ), parent=self)

        # 4. PgBouncer, postgres_exporter and PgBouncer's exporter on every database VM.
        for h in dbs:
            cert = ca.issue(h)
            steps[f"{h.name}-pgbouncer"] = host_step(settings, StepSpec(
                name=f"{h.name}-pgbouncer", host=h, script=HOST_DIR / "pgbouncer.sh",
                files={"pgbouncer.ini": render.render_pgbouncer(settings, h),
                       "userlist.txt": render.render_userlist(), "pgbouncer.tmpfiles": TMPFILES,
                       "ca.crt": ca_pem, "host.crt": cert.cert_pem},
                secrets={render.SECRET_HOST_KEY: cert.key_pem,
                         **pick(render.SECRET_PGBOUNCER_AUTH, render.SECRET_MONITORING)},
                depends_on=[steps[f"{h.name}-postgres"], databases],
            ), parent=self)
            steps[f"{h.name}-exporter"] = host_step(settings, StepSpec(
                name=f"{h.name}-exporter", host=h, script=HOST_DIR / "exporter.sh",
                files={"exporter.default": render.render_exporter_defaults(h)},
                secrets=pick(render.SECRET_MONITORING),
                depends_on=[steps[f"{h.name}-postgres"], databases],
            ), parent=self)
            # Reads PgBouncer's admin console as the stats user, so it needs this node's PgBouncer.
            steps[f"{h.name}-pgbouncer-exporter"] = host_step(settings, StepSpec(
                name=f"{h.name}-pgbouncer-exporter", host=h, script=HOST_DIR / "pgbouncer_exporter.sh",
                files={"pgbouncer-exporter.conf": render.render_pgbouncer_exporter(h),
                       "pgbouncer-exporter.pgpass": render.render_pgbouncer_exporter_pgpass(),
                       "pgbouncer-exporter.unit": render.render_pgbouncer_exporter_unit(),
                       "pgbouncer_exporter.py": (HOST_DIR / "pgbouncer_exporter.py").read_text()},
                secrets=pick(render.SECRET_MONITORING),
                params={"HOST_IP": h.private_ip, "PORT": str(render.PGBOUNCER_EXPORTER_PORT)},
                depends_on=[steps[f"{h.name}-pgbouncer"]],
            ), parent=self)

        self.steps = steps
        self.ready = databases
        self.ca_certificate = ca_pem
        self.router_endpoint = router_endpoint(settings)
        self.pgbouncers = {h.name: f"{h.private_ip}:{render.PGBOUNCER_PORT}" for h in dbs}
        self.apps = {}
        for db in pg.databases:
            pw = secrets[render.app_secret(db)]
            self.apps[db] = {
                "database": db,
                "user": db,
                "password": pw,  # secret (RandomPassword.result wrapped in secret())
                "dsn": secret(pw.apply(functools.partial(dsn, db, self.router_endpoint))),
            }
        self.scrape_targets = {
            "postgres_exporter": [f"{h.private_ip}:{render.EXPORTER_PORT}" for h in dbs],
            "pgbouncer_exporter": [f"{h.private_ip}:{render.PGBOUNCER_EXPORTER_PORT}" for h in dbs],
            # Patroni's /metrics, over https with the platform CA.
            "patroni": [f"{h.private_ip}:{render.PATRONI_PORT}" for h in dbs],
            "etcd": [f"{h.private_ip}:{render.ETCD_CLIENT_PORT}" for h in settings.etcd_members()],
        }
        self.register_outputs({
            "routerEndpoint": self.router_endpoint,
            "pgbouncers": self.pgbouncers,
            "apps": self.apps,
            "caCertificate": self.ca_certificate,
            "scrapeTargets": self.scrape_targets,
        })
