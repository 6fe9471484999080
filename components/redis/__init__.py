"""RedisSentinelCluster: Redis 7 (Debian/Ubuntu packages) with Sentinel, redis_exporter and RDB
backups to S3, on the Redis VMs.

Topology: every Redis VM runs a Sentinel; the first two (or the only one) also run redis-server,
the first being the initial master (render.data_hosts). Steps, all through `host_step`:

    <data host>-redis           packages, kernel settings, redis.conf, start-up guard, service;
                                after the host's baseline and the previous data host's redis step
                                (first boot: the master exists before its replica; later changes
                                restart one node at a time)
    <every host>-sentinel       after every redis step and the previous host's sentinel step
    <every host>-redis-exporters after the host's redis and sentinel steps
    <data host>-redis-backup    backup/restore scripts, s3cmd, the timer; after the host's redis step

Inputs: settings, the hosts' "ready" steps (HostBaseline.ready), the internal CA (redis.tls) and
optionally the backup bucket resource (the backup step waits for it). Outputs (attributes, also
registered): sentinels, master_name, router_endpoint, apps (secret), scrape_targets, and for the
router: router_section (HAProxy text with a `{{secret:redis_healthcheck}}` placeholder) and
router_secrets (name -> secret value the router step must receive).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import pulumi_random as random

from components.pki import InternalCA
from components.redis import render
from components.remote import StepSpec, host_step
from components.settings import Host, Settings

HOST_DIR = Path(__file__).parent / "host"
FILES_DIR = Path(__file__).parent / "files"
SECRET_TLS_KEY = "redis_tls_key"


class RedisSentinelCluster(pulumi.ComponentResource):
    sentinels: list[str]
    master_name: str
    router_endpoint: str
    router_section: str
    router_secrets: dict[str, pulumi.Output[str]]
    apps: pulumi.Output[dict[str, Any]]
    scrape_targets: dict[str, list[str]]
    steps: dict[str, pulumi.Resource]
    ready: list[pulumi.Resource]

    def __init__(
        self,
        settings: Settings,
        host_ready: Mapping[str, pulumi.Resource],
        ca: InternalCA | None = None,
        backup_bucket: pulumi.Resource | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:redis:RedisSentinelCluster", settings.redis.master_name, None, opts)
        if settings.secrets is None:
            raise ValueError("settings were parsed without secrets; use load_settings()")
        if settings.redis.tls and ca is None:
            raise ValueError("redis.tls needs the internal CA (components/pki.py)")
        r = settings.redis

        def password(name: str) -> pulumi.Output[str]:
            pw = random.RandomPassword(f"redis-{name}", length=32, special=False,
                                       opts=pulumi.ResourceOptions(parent=self))
            return pulumi.Output.secret(pw.result)

        admin = password("admin")
        acl = {
            render.SECRET_SENTINEL: password("sentinel"),
            render.SECRET_EXPORTER: password("exporter"),
            render.SECRET_HEALTHCHECK: password("healthcheck"),
            render.SECRET_BACKUP: password("backup"),
        }
        app_passwords = {app: password(f"app-{app}") for app in r.apps}
        redis_secrets: dict[str, pulumi.Input[str]] = {render.SECRET_ADMIN: admin, **acl}
        redis_secrets.update({render.app_secret(a): pw for a, pw in app_passwords.items()})

        def tls(host: Host) -> tuple[dict[str, pulumi.Input[str]], dict[str, pulumi.Input[str]]]:
            if not r.tls or ca is None:
                return {}, {}
            cert = ca.issue(host)
            files: dict[str, pulumi.Input[str]] = {
                "tls-ca.crt": ca.cert_pem, "tls-redis.crt": cert.cert_pem,
                "tls-redis.key": f"{{{{secret:{SECRET_TLS_KEY}}}}}\n",
            }
            return files, {SECRET_TLS_KEY: cert.key_pem}

        def ready_of(h: Host) -> list[pulumi.Resource]:
            return [host_ready[h.name]] if h.name in host_ready else []

        tls_flag = "1" if r.tls else "0"
        self.steps = {}
        data = render.data_hosts(settings)
        previous: list[pulumi.Resource] = []
        redis_steps: dict[str, pulumi.Resource] = {}
        for h in data:
            tls_files, tls_secrets = tls(h)
            step = host_step(settings, StepSpec(
                name=f"{h.name}-redis", host=h, script=HOST_DIR / "redis.sh",
                files={
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
                depends_on=ready_of(h) + previous,
            ), parent=self)
            redis_steps[h.name] = step
            previous = [step]

        sentinel_steps: dict[str, pulumi.Resource] = {}
        previous = []
        for h in render.sentinel_hosts(settings):
            tls_files, tls_secrets = tls(h)
            step = host_step(settings, StepSpec(
                name=f"{h.name}-sentinel", host=h, script=HOST_DIR / "sentinel.sh",
                files={
                    "sentinel.conf": render.render_sentinel_conf(settings, h),
                    "sentinel-dropin.conf": render.render_sentinel_dropin(),
                    "sentinel-merge.pl": (FILES_DIR / "sentinel-merge.pl").read_text(),
                    **tls_files,
                },
                secrets={render.SECRET_SENTINEL: acl[render.SECRET_SENTINEL], **tls_secrets},
                params={"MASTER_NAME": r.master_name, "SENTINEL_PORT": str(render.SENTINEL_PORT),
                        "TLS": tls_flag},
                depends_on=ready_of(h) + list(redis_steps.values()) + previous,
            ), parent=self)
            sentinel_steps[h.name] = step
            previous = [step]

        exporter_steps: dict[str, pulumi.Resource] = {}
        for h in render.sentinel_hosts(settings):
            is_data = h.name in redis_steps
            files: dict[str, pulumi.Input[str]] = {
                "sentinel-exporter.default": render.render_sentinel_exporter_defaults(settings, h),
                "platform-redis-sentinel-exporter.service": render.render_sentinel_exporter_unit(),
            }
            secrets: dict[str, pulumi.Input[str]] = {}
            if is_data:
                files["redis-exporter.default"] = render.render_exporter_defaults(settings, h)
                secrets[render.SECRET_EXPORTER] = acl[render.SECRET_EXPORTER]
            exporter_steps[h.name] = host_step(settings, StepSpec(
                name=f"{h.name}-redis-exporters", host=h, script=HOST_DIR / "exporter.sh",
                files=files, secrets=secrets, params={"DATA_NODE": "1" if is_data else "0"},
                depends_on=([redis_steps[h.name]] if is_data else []) + [sentinel_steps[h.name]],
            ), parent=self)

        backup_steps: dict[str, pulumi.Resource] = {}
        s3_secrets: dict[str, pulumi.Input[str]] = {
            render.SECRET_S3_ACCESS: settings.secrets.s3_access_key,
            render.SECRET_S3_SECRET: settings.secrets.s3_secret_key,
            render.SECRET_BACKUP: acl[render.SECRET_BACKUP],
        }
        for h in data:
            files = {
                "s3cfg": render.render_s3cfg(settings),
                "backup.env": render.render_backup_env(settings, h),
                "backup.pass": f"{{{{secret:{render.SECRET_BACKUP}}}}}\n",
                "redis-backup": (FILES_DIR / "redis-backup.sh").read_text(),
                "redis-restore": (FILES_DIR / "redis-restore.sh").read_text(),
                **render.render_backup_units(settings),
            }
            if settings.s3.ca_certificate:
                files["s3-ca.pem"] = settings.s3.ca_certificate
            backup_steps[h.name] = host_step(settings, StepSpec(
                name=f"{h.name}-redis-backup", host=h, script=HOST_DIR / "backup.sh",
                files=files, secrets=s3_secrets,
                depends_on=[redis_steps[h.name]] + ([backup_bucket] if backup_bucket is not None else []),
            ), parent=self)

        for group, suffix in ((redis_steps, "redis"), (sentinel_steps, "sentinel"),
                              (exporter_steps, "redis-exporters"), (backup_steps, "redis-backup")):
            for name, resource in group.items():
                self.steps[f"{name}-{suffix}"] = resource
        self.ready = list(sentinel_steps.values())

        self.sentinels = render.sentinel_addresses(settings)
        self.master_name = r.master_name
        self.router_endpoint = render.router_endpoint(settings)
        self.router_section = render.router_section(settings)
        self.router_secrets = {render.SECRET_HEALTHCHECK: acl[render.SECRET_HEALTHCHECK]}
        self.scrape_targets = render.scrape_targets(settings)
        self.apps = pulumi.Output.all(*app_passwords.values()).apply(
            lambda pws: {
                app: {"user": app, "password": pw, "keyPrefix": render.key_prefix(app)}
                for app, pw in zip(app_passwords, pws, strict=True)
            })
        self.register_outputs({
            "sentinels": self.sentinels,
            "masterName": self.master_name,
            "routerEndpoint": self.router_endpoint,
            "apps": self.apps,
            "scrapeTargets": self.scrape_targets,
        })
