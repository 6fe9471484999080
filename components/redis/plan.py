"""The Redis/Sentinel cluster's steps, computed from settings (pure; component.py registers them).

    <data host>-redis           packages, kernel settings, redis.conf, start-up guard, service;
                                after the host's baseline and the previous data host's redis step
                                (first boot: the master exists before its replica; later changes
                                restart one node at a time)
    <every host>-sentinel       after every redis step and the previous host's sentinel step
    <every host>-redis-exporters after the host's redis and sentinel steps
    <data host>-redis-backup    backup/restore scripts, s3cmd, the timer; after the host's redis step
                                and the backups bucket
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from components.baseline.plan import ready_step
from components.contract import Contract
from components.plan import (
    FileValue,
    Password,
    Plan,
    SecretValue,
    Step,
    bucket_ref,
    host_tls,
    placeholder,
    s3_credentials,
)
from components.redis import render
from components.settings import Host, Settings

HOST_DIR = Path(__file__).parent / "host"
FILES_DIR = Path(__file__).parent / "files"
SECRET_TLS_KEY = "redis_tls_key"
# ACL users with generated passwords: secret name -> RandomPassword name suffix (`redis-<suffix>`).
ACL_USERS = {
    render.SECRET_SENTINEL: "sentinel",
    render.SECRET_EXPORTER: "exporter",
    render.SECRET_HEALTHCHECK: "healthcheck",
    render.SECRET_BACKUP: "backup",
}


def password_name(suffix: str) -> str:
    return f"redis-{suffix}"


def app_password(app: str) -> str:
    """The RandomPassword name of an app's ACL user."""
    return password_name(f"app-{app}")


def plan(settings: Settings, contracts: Sequence[Contract] = ()) -> Plan:
    r = settings.redis
    acl: dict[str, SecretValue] = {name: Password(password_name(s)) for name, s in ACL_USERS.items()}
    redis_secrets: dict[str, SecretValue] = {render.SECRET_ADMIN: Password(password_name("admin")), **acl}
    redis_secrets |= {render.app_secret(a): Password(app_password(a)) for a in r.apps}

    def tls(host: Host) -> tuple[dict[str, FileValue], dict[str, SecretValue]]:
        if not r.tls:
            return {}, {}
        return host_tls(host, "tls-ca.crt", "tls-redis.crt", SECRET_TLS_KEY, key_file="tls-redis.key")

    tls_flag = "1" if r.tls else "0"
    data = render.data_hosts(settings)
    redis_steps: list[Step] = []
    for h in data:
        tls_files, tls_secrets = tls(h)
        redis_steps.append(Step(
            name=f"{h.name}-redis", host=h, script=HOST_DIR / "redis.sh",
            files={
                "redis-lib.sh": (HOST_DIR / "redis_lib.sh").read_text(),
                "redis.conf": render.render_redis_conf(settings, h),
                "guard.env": render.render_guard_env(settings, h),
                "redis-guard": (FILES_DIR / "redis-guard.sh").read_text(),
                "redis-dropin.conf": render.render_redis_dropin(),
                "61-platform-redis.conf": render.render_sysctl(),
                "platform-redis-thp.service": render.render_thp_unit(),
                **tls_files,
            },
            secrets={**redis_secrets, **tls_secrets},
            params={"MASTER_NAME": r.master_name, "REDIS_PORT": str(render.REDIS_PORT), "TLS": tls_flag},
            after=(ready_step(h), *(s.name for s in redis_steps[-1:])),
        ))

    sentinel_steps: list[Step] = []
    for h in render.sentinel_hosts(settings):
        tls_files, tls_secrets = tls(h)
        sentinel_steps.append(Step(
            name=f"{h.name}-sentinel", host=h, script=HOST_DIR / "sentinel.sh",
            files={
                "redis-lib.sh": (HOST_DIR / "redis_lib.sh").read_text(),
                "sentinel.conf": render.render_sentinel_conf(settings, h),
                "sentinel-dropin.conf": render.render_sentinel_dropin(),
                "sentinel-merge.pl": (FILES_DIR / "sentinel-merge.pl").read_text(),
                **tls_files,
            },
            secrets={render.SECRET_SENTINEL: acl[render.SECRET_SENTINEL], **tls_secrets},
            params={"MASTER_NAME": r.master_name, "SENTINEL_PORT": str(render.SENTINEL_PORT), "TLS": tls_flag},
            after=(ready_step(h), *(s.name for s in redis_steps), *(s.name for s in sentinel_steps[-1:])),
        ))

    exporter_steps: list[Step] = []
    data_names = {h.name for h in data}
    for h in render.sentinel_hosts(settings):
        is_data = h.name in data_names
        files: dict[str, FileValue] = {
            "sentinel-exporter.default": render.render_sentinel_exporter_defaults(settings, h),
            "platform-redis-sentinel-exporter.service": render.render_sentinel_exporter_unit(),
        }
        secrets: dict[str, SecretValue] = {}
        if is_data:
            files["redis-exporter.default"] = render.render_exporter_defaults(settings, h)
            secrets[render.SECRET_EXPORTER] = acl[render.SECRET_EXPORTER]
        exporter_steps.append(Step(
            name=f"{h.name}-redis-exporters", host=h, script=HOST_DIR / "exporter.sh",
            files=files, secrets=secrets, params={"DATA_NODE": "1" if is_data else "0"},
            after=((f"{h.name}-redis",) if is_data else ()) + (f"{h.name}-sentinel",),
        ))

    backup_steps: list[Step] = []
    s3_secrets: dict[str, SecretValue] = {**s3_credentials(), render.SECRET_BACKUP: acl[render.SECRET_BACKUP]}
    for h in data:
        backup_files: dict[str, FileValue] = {
            "s3cfg": render.render_s3cfg(settings),
            "backup.env": render.render_backup_env(settings, h),
            "backup.pass": placeholder(render.SECRET_BACKUP) + "\n",
            "redis-backup": (FILES_DIR / "redis-backup.sh").read_text(),
            "redis-restore": (FILES_DIR / "redis-restore.sh").read_text(),
            **render.render_backup_units(settings),
        }
        if settings.s3.ca_certificate:
            backup_files["s3-ca.pem"] = settings.s3.ca_certificate
        backup_steps.append(Step(
            name=f"{h.name}-redis-backup", host=h, script=HOST_DIR / "backup.sh",
            files=backup_files, secrets=s3_secrets, after=(f"{h.name}-redis", bucket_ref("backups")),
        ))

    passwords = [password_name("admin")] + [password_name(s) for s in ACL_USERS.values()]
    passwords += [app_password(a) for a in r.apps]
    return Plan(steps=(*redis_steps, *sentinel_steps, *exporter_steps, *backup_steps), passwords=tuple(passwords))
