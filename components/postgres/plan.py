"""The PostgreSQL cluster's steps, computed from settings (pure; components/postgres/component.py
registers them). Each step runs on one host, in this order:

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
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from components.baseline.plan import ready_step
from components.contract import Contract
from components.plan import FileValue, Password, Plan, SecretValue, Step, bucket_ref, host_tls, s3_credentials
from components.postgres import render
from components.settings import Host, Settings

HOST_DIR = Path(__file__).parent / "host"
FILES_DIR = Path(__file__).parent / "files"
TMPFILES = ("# Rendered by the platform program: PgBouncer's own socket directory.\n"
            "d /run/pgbouncer 2775 postgres postgres -\n")
# Generated passwords: secret name -> the RandomPassword's name suffix (`<cluster>-<suffix>`).
GENERATED = {
    render.SECRET_SUPERUSER: "superuser",
    render.SECRET_REPLICATION: "replication",
    render.SECRET_REWIND: "rewind",
    render.SECRET_MONITORING: "monitoring",
    render.SECRET_BACKUP: "backup",
    render.SECRET_PGBOUNCER_AUTH: "pgbouncer-auth",
    render.SECRET_PATRONI_API: "patroni-api",
    render.SECRET_CIPHER: "pgbackrest-cipher",
}


def secrets(settings: Settings) -> dict[str, SecretValue]:
    """Every secret of the cluster by its placeholder name (the host key is per step)."""
    cluster = settings.postgres.cluster_name
    out: dict[str, SecretValue] = {name: Password(f"{cluster}-{suffix}") for name, suffix in GENERATED.items()}
    out |= s3_credentials()
    out |= {render.app_secret(db): Password(f"{cluster}-app-{db}") for db in settings.postgres.databases}
    return out


def app_password(settings: Settings, db: str) -> str:
    """The RandomPassword name of an app database's owner role."""
    return f"{settings.postgres.cluster_name}-app-{db}"


def plan(settings: Settings, contracts: Sequence[Contract] = ()) -> Plan:
    pg = settings.postgres
    table = secrets(settings)
    dbs = settings.hosts["postgres"]
    leader = dbs[0]

    def pick(*names: str) -> dict[str, SecretValue]:
        return {n: table[n] for n in names}

    def tls(h: Host) -> tuple[dict[str, FileValue], dict[str, SecretValue]]:
        return host_tls(h, "ca.crt", "host.crt", render.SECRET_HOST_KEY)

    steps: list[Step] = []

    # 1. etcd on every member (database VMs + witness), one after the other: a restart waits for
    #    the member to be healthy again (etcd.sh), so members never restart together and quorum holds.
    etcd_steps: list[str] = []
    for h in render.etcd_members(settings):
        files, keys = tls(h)
        etcd_files: dict[str, FileValue] = {
            "etcd.default": render.render_etcd(settings, h), "join.dropin": render.render_etcd_join_dropin(), **files}
        if h.name == pg.etcd_witness:
            etcd_files |= {"etcd-leader": (FILES_DIR / "etcd-leader.sh").read_text(),
                           **render.render_etcd_leader_units()}
        steps.append(Step(name=f"{h.name}-etcd", host=h, script=HOST_DIR / "etcd.sh", files=etcd_files,
                          secrets=keys, params=render.etcd_step_params(settings, h),
                          after=(ready_step(h), *etcd_steps[-1:])))
        etcd_steps.append(steps[-1].name)

    pgbackrest_conf = render.render_pgbackrest(settings, settings.s3.buckets.backups)
    postgres_secrets = pick(
        render.SECRET_SUPERUSER, render.SECRET_REPLICATION, render.SECRET_REWIND,
        render.SECRET_PATRONI_API, render.SECRET_CIPHER, render.SECRET_S3_ACCESS, render.SECRET_S3_SECRET)

    def postgres_step(h: Host, role: str, after: Sequence[str]) -> Step:
        files, keys = tls(h)
        pg_files: dict[str, FileValue] = {
            "config.yml": render.render_patroni(settings, h), "dcs.yml": render.render_dcs(settings),
            "pgbackrest.conf": pgbackrest_conf, **files,
            "patroni_launcher.py": (HOST_DIR / "patroni_launcher.py").read_text(),
            "on-role-change": (FILES_DIR / "on-role-change.sh").read_text(),
            "patroni.dropin": render.render_patroni_dropin(),
        }
        if settings.s3.ca_certificate:
            pg_files["s3-ca.crt"] = settings.s3.ca_certificate
        return Step(
            name=f"{h.name}-postgres", host=h, script=HOST_DIR / "postgres.sh", files=pg_files,
            secrets={**keys, **postgres_secrets},
            params={"PG_VERSION": str(pg.version), "CLUSTER": pg.cluster_name,
                    "DATA_DIR": render.data_dir(settings), "HOST_IP": h.private_ip,
                    "API_PORT": str(render.PATRONI_PORT), "ETCD_CLIENT_PORT": str(render.ETCD_CLIENT_PORT),
                    "NODE_ROLE": role},
            # The bucket: pgbackrest.conf names it, and the leader's first backup goes there.
            after=(ready_step(h), *etcd_steps, *after, bucket_ref("backups")),
        )

    def pgbackrest_step(h: Host) -> Step:
        # The postgres step installs pgbackrest.conf (and the S3 CA); they are here too so that a
        # changed repository (bucket, endpoint, cipher) re-runs this step: stanza and check there.
        files: dict[str, FileValue] = {"platform-pg-backup": render.render_backup_script(settings),
                                       "pgbackrest.cron": render.render_backup_cron(settings),
                                       "pgbackrest.conf": pgbackrest_conf}
        if settings.s3.ca_certificate:
            files["s3-ca.crt"] = settings.s3.ca_certificate
        return Step(name=f"{h.name}-pgbackrest", host=h, script=HOST_DIR / "pgbackrest.sh", files=files,
                    params={"STANZA": render.stanza(settings)}, after=(f"{h.name}-postgres",))

    # 2. The leader bootstraps the cluster, its backups start the repository; replicas are then
    #    restored from that backup (create_replica_methods: pgbackrest, then basebackup).
    steps += [postgres_step(leader, "leader", []), pgbackrest_step(leader)]
    for h in dbs[1:]:
        steps += [postgres_step(h, "replica", [f"{leader.name}-postgres", f"{leader.name}-pgbackrest"]),
                  pgbackrest_step(h)]

    # 3. Databases and roles, on the current primary.
    databases = f"{leader.name}-databases"
    steps.append(Step(
        name=databases, host=leader, script=HOST_DIR / "databases.sh",
        files={"roles.tsv": render.render_roles(settings),
               "databases.tsv": render.render_databases(pg.databases),
               "appdb.sql": render.render_app_db_sql(),
               "scram_verifier.py": (HOST_DIR / "scram_verifier.py").read_text()},
        secrets={r.secret: table[r.secret] for r in render.roles(settings)} | pick(render.SECRET_SUPERUSER),
        params={"HOST_IP": leader.private_ip, "API_PORT": str(render.PATRONI_PORT), "PG_PORT": str(render.PG_PORT),
                "APP_SCRAM_ITERATIONS": str(pg.scram_iterations),
                "SCRAM_ITERATIONS": str(render.SCRAM_ITERATIONS)},
        after=(f"{leader.name}-postgres",),
    ))

    # 4. PgBouncer, postgres_exporter and PgBouncer's exporter on every database VM.
    for h in dbs:
        files, keys = tls(h)
        steps.append(Step(
            name=f"{h.name}-pgbouncer", host=h, script=HOST_DIR / "pgbouncer.sh",
            files={"pgbouncer.ini": render.render_pgbouncer(settings, h),
                   "userlist.txt": render.render_userlist(), "pgbouncer.tmpfiles": TMPFILES, **files},
            secrets={**keys, **pick(render.SECRET_PGBOUNCER_AUTH, render.SECRET_MONITORING)},
            params={"PGBOUNCER_PORT": str(render.PGBOUNCER_PORT)},
            after=(f"{h.name}-postgres", databases),
        ))
        steps.append(Step(
            name=f"{h.name}-exporter", host=h, script=HOST_DIR / "exporter.sh",
            files={"exporter.default": render.render_exporter_defaults(h)},
            secrets=pick(render.SECRET_MONITORING), after=(f"{h.name}-postgres", databases),
        ))
        # Reads PgBouncer's admin console as the stats user, so it needs this node's PgBouncer.
        steps.append(Step(
            name=f"{h.name}-pgbouncer-exporter", host=h, script=HOST_DIR / "pgbouncer_exporter.sh",
            files={"pgbouncer-exporter.conf": render.render_pgbouncer_exporter(h),
                   "pgbouncer-exporter.pgpass": render.render_pgbouncer_exporter_pgpass(),
                   "pgbouncer-exporter.unit": render.render_pgbouncer_exporter_unit(),
                   "pgbouncer_exporter.py": (HOST_DIR / "pgbouncer_exporter.py").read_text()},
            secrets=pick(render.SECRET_MONITORING),
            params={"HOST_IP": h.private_ip, "PORT": str(render.PGBOUNCER_EXPORTER_PORT)},
            after=(f"{h.name}-pgbouncer",),
        ))

    passwords = tuple(v.name for v in table.values() if isinstance(v, Password))
    return Plan(steps=tuple(steps), passwords=passwords)


def ready(settings: Settings) -> str:
    """The step after which the databases and roles exist."""
    return f"{settings.hosts['postgres'][0].name}-databases"


