"""Nextcloud (the official apache image) on K3s (pure): PostgreSQL through `postgres-rw` with TLS,
Redis through `redis-master` (Nextcloud cannot speak Sentinel) as its ACL user inside its key
prefix, S3 as primary object storage, background jobs as a CronJob, an install/upgrade Job.

Its own configuration is `platform.config.php` (mounted into config/, which Nextcloud merges with
the config.php its installer writes) and a PHP ini for the Redis session handler: the image's
own session setting has no key prefix, and Nextcloud's ACL user may touch only `nextcloud:*`.
Passwords reach the container as Secret references and the files read them with getenv() / ${}.
"""

from __future__ import annotations

import shlex
from typing import Any

from components.apps import names as n
from components.apps.render import common as c
from components.apps.render import kube as k
from components.apps.render.sizing import size
from components.plan import ConfigSecret, Password
from components.redis.names import key_prefix
from components.settings import Settings

APP = "nextcloud"
PORT = 80
UID = 33  # www-data in the image
HTML = "/var/www/html"
CONFIG_FILE = f"{HTML}/config/platform.config.php"
SESSION_INI = "/usr/local/etc/php/conf.d/zz-platform-redis-session.ini"
ADMIN_USER = "admin"
CRON_SCHEDULE = "*/5 * * * *"  # Nextcloud's documented interval for cron.php
S3_CA_FILE = "/etc/platform-ca/s3-ca.crt"
# Env names the config files read (getenv() in PHP, ${} in the ini).
ENV_REDIS_PASSWORD = "PLATFORM_REDIS_PASSWORD"
ENV_S3_KEY, ENV_S3_SECRET = "PLATFORM_S3_KEY", "PLATFORM_S3_SECRET"


def cache_prefix() -> str:
    return key_prefix(APP)


def session_prefix() -> str:
    return f"{key_prefix(APP)}sessions:"


def _php(value: Any, indent: int = 1) -> str:
    """A Python value as a PHP literal (strings single-quoted, getenv() for Env)."""
    pad = "  " * indent
    if isinstance(value, Env):
        return f"getenv('{value.name}')"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(_php(v, indent) for v in value) + "]"
    if isinstance(value, dict):
        inner = "".join(f"{pad}  {_php(kk)} => {_php(v, indent + 1)},\n" for kk, v in value.items())
        return "[\n" + inner + pad + "]"
    raise TypeError(f"no PHP literal for {value!r}")


class Env:
    def __init__(self, name: str) -> None:
        self.name = name


def config(settings: Settings) -> dict[str, Any]:
    """platform.config.php's $CONFIG (Nextcloud's config.sample.php names)."""
    host = c.hostname(settings, APP)
    s3 = c.s3_endpoint(settings)
    return {
        "trusted_domains": [host],
        "trusted_proxies": c.trusted_proxies(settings),
        "forwarded_for_headers": ["HTTP_X_FORWARDED_FOR"],
        "overwriteprotocol": "https",
        "overwritehost": host,
        "overwrite.cli.url": f"https://{host}",
        # TLS to PgBouncer, verified against the internal CA (the certificate names the node, not
        # the router, hence verify-ca).
        "pgsql_ssl": {"mode": "verify-ca", "rootcert": n.CA_FILE},
        "memcache.local": "\\OC\\Memcache\\APCu",
        "memcache.distributed": "\\OC\\Memcache\\Redis",
        "memcache.locking": "\\OC\\Memcache\\Redis",
        # Every cache and lock key starts with this: the only keys its Redis ACL user may touch.
        "memcache_customprefix": cache_prefix(),
        "redis": {"host": n.REDIS_MASTER.host(), "port": n.REDIS_MASTER.port, "user": APP,
                  "password": Env(ENV_REDIS_PASSWORD), "timeout": 1.5, "read_timeout": 1.5},
        "objectstore": {"class": "\\OC\\Files\\ObjectStore\\S3", "arguments": {
            "bucket": settings.s3.buckets.nextcloud, "hostname": s3.host, "port": s3.port, "use_ssl": True,
            "use_path_style": True, "region": settings.s3.region, "autocreate": False,
            "key": Env(ENV_S3_KEY), "secret": Env(ENV_S3_SECRET)}},
        "maintenance_window_start": 1,
        "default_phone_region": "",
    }


def render_config(settings: Settings) -> str:
    return ("<?php\n// Rendered by the platform program (components/apps/render/nextcloud.py); do not edit.\n"
            f"$CONFIG = {_php(config(settings), 0)};\n")


def session_save_path() -> str:
    r = n.REDIS_MASTER
    return (f"tcp://{r.host()}:{r.port}?auth[]={APP}&auth[]=${{{ENV_REDIS_PASSWORD}}}"
            f"&prefix={session_prefix()}&timeout=2")


def render_session_ini() -> str:
    return ("; Rendered by the platform program (components/apps/render/nextcloud.py).\n"
            "; PHP sessions in Redis, inside Nextcloud's key prefix (its ACL user may touch nothing else).\n"
            "session.save_handler = redis\n"
            f'session.save_path = "{session_save_path()}"\n'
            "redis.session.locking_enabled = 1\n"
            "redis.session.lock_retries = -1\n"
            "redis.session.lock_wait_time = 10000\n")


def secret() -> k.SecretSpec:
    return k.SecretSpec(APP, n.app_secret(APP), {
        "postgres-password": k.OutputValue("postgresApps", (APP, "password")),
        "redis-password": k.OutputValue("redisApps", (APP, "password")),
        "s3-access-key": ConfigSecret("s3AccessKey"),
        "s3-secret-key": ConfigSecret("s3SecretKey"),
        "admin-password": Password(n.admin_password(APP)),
    })


def env(settings: Settings) -> list[k.Obj]:
    sec = n.app_secret(APP)
    pg = n.POSTGRES_RW
    return [
        k.env_value("POSTGRES_HOST", f"{pg.host()}:{pg.port}"),
        k.env_value("POSTGRES_DB", APP),
        k.env_value("POSTGRES_USER", APP),
        k.env_secret("POSTGRES_PASSWORD", sec, "postgres-password"),
        k.env_value("NEXTCLOUD_TRUSTED_DOMAINS", c.hostname(settings, APP)),
        k.env_value("TRUSTED_PROXIES", " ".join(c.trusted_proxies(settings))),
        k.env_value("OVERWRITEPROTOCOL", "https"),
        k.env_value("APACHE_DISABLE_REWRITE_IP", "1"),  # trusted_proxies decides, not Apache's RemoteIP
        k.env_secret(ENV_REDIS_PASSWORD, sec, "redis-password"),
        k.env_secret(ENV_S3_KEY, sec, "s3-access-key"),
        k.env_secret(ENV_S3_SECRET, sec, "s3-secret-key"),
    ]


def _volumes(settings: Settings) -> tuple[list[k.Obj], list[k.Obj]]:
    ca_vol, ca_mount = k.ca_volume()
    vols: list[k.Obj] = [{"name": "html", "persistentVolumeClaim": {"claimName": f"{APP}-html"}},
            {"name": "config", "configMap": {"name": f"{APP}-config"}}, ca_vol]
    mounts: list[k.Obj] = [{"name": "html", "mountPath": HTML},
              {"name": "config", "mountPath": CONFIG_FILE, "subPath": "platform.config.php", "readOnly": True},
              {"name": "config", "mountPath": SESSION_INI, "subPath": "redis-session.ini", "readOnly": True},
              ca_mount]
    return vols, mounts


def _pod(settings: Settings, containers: list[k.Obj], restart: str | None = None) -> k.Obj:
    vols, _ = _volumes(settings)
    pod: k.Obj = {"automountServiceAccountToken": False, "securityContext": {"fsGroup": UID},
                  "containers": containers, "volumes": vols, "enableServiceLinks": False}
    if restart:
        pod["restartPolicy"] = restart
    return pod


def _container(settings: Settings, name: str, role: str, **extra: Any) -> k.Obj:
    _, mounts = _volumes(settings)
    return {"name": name, "image": n.IMAGES[APP].ref(), "env": env(settings), "volumeMounts": mounts,
            "resources": size(settings.preset, role).resources(), **extra}


# The entrypoint starts as root: it copies the release into /var/www/html (owned by www-data) and
# Apache binds :80 before its workers drop to www-data.
ROOT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID", "NET_BIND_SERVICE", "KILL")


def install_script(settings: Settings) -> str:
    """The install/upgrade Job's command (as www-data after the image's entrypoint): the
    entrypoint installs (first run) or upgrades (a newer image) under its own lock; then the
    settings that must be in the database. Every step is idempotent, so the Job can re-run."""
    occ = f"php {HTML}/occ"
    lines = [
        "set -eu",
        f"{occ} status",
        f"{occ} status --output=json | grep -q '\"installed\":true'",
        f"{occ} background:cron",
        f"{occ} db:add-missing-indices",
        f"{occ} maintenance:repair --include-expensive",
        f"{occ} user:setting {ADMIN_USER} settings email {shlex.quote(settings.apps.admin_email)}",
    ]
    if settings.s3.ca_certificate:
        lines.append(f"{occ} security:certificates:import {S3_CA_FILE}")
    return "\n".join(lines)


def objects(settings: Settings) -> list[k.Obj]:
    lb = k.app_labels(APP, "web")
    host = c.hostname(settings, APP)
    web = size(settings.preset, APP)
    status = k.http_probe("/status.php", PORT, headers={"Host": host})
    main = _container(settings, APP, APP, ports=[{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
                      startupProbe={**status, "failureThreshold": 60},
                      readinessProbe=status, livenessProbe={**status, "failureThreshold": 6},
                      securityContext=k.root_entrypoint_container(*ROOT_CAPS))
    sec = secret()
    cfg = {"platform.config.php": render_config(settings), "redis-session.ini": render_session_ini()}
    sum_ = k.checksum(sec.checksum(), cfg)
    install = _container(
        settings, "install", APP,
        env=[*env(settings), k.env_value("NEXTCLOUD_UPDATE", "1"), k.env_value("NEXTCLOUD_ADMIN_USER", ADMIN_USER),
             k.env_secret("NEXTCLOUD_ADMIN_PASSWORD", n.app_secret(APP), "admin-password")],
        args=["su", "-p", "www-data", "-s", "/bin/sh", "-c", install_script(settings)],
        securityContext=k.root_entrypoint_container(*ROOT_CAPS))
    cron = _container(settings, "cron", f"{APP}-cron", command=["php", "-f", f"{HTML}/cron.php"],
                      securityContext={**k.restricted_container(), "runAsNonRoot": True, "runAsUser": UID,
                                       "runAsGroup": UID})
    image_tag = n.IMAGES[APP].tag.replace(".", "-")
    out = [
        k.config_map(f"{APP}-config", APP, cfg, lb),
        k.pvc(f"{APP}-html", APP, "10Gi", settings.apps.storage_class, lb),
        {"apiVersion": "batch/v1", "kind": "Job",
         # A new image is a new Job (its upgrade); the same image re-runs nothing harmful.
         "metadata": k.meta(f"{APP}-install-{image_tag}", APP, k.app_labels(APP, "install")),
         "spec": {"backoffLimit": 3, "activeDeadlineSeconds": 3600,
                  "template": {"metadata": {"labels": k.app_labels(APP, "install")},
                               "spec": _pod(settings, [install], restart="OnFailure")}}},
        k.deployment(APP, APP, lb, _pod(settings, [main]), replicas=web.replicas, checksum_value=sum_,
                     recreate=True),
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": k.meta(f"{APP}-cron", APP, k.app_labels(APP, "cron")),
         "spec": {"schedule": CRON_SCHEDULE, "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 240,
                  "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
                  "jobTemplate": {"spec": {"backoffLimit": 0, "activeDeadlineSeconds": 1800, "template": {
                      "metadata": {"labels": k.app_labels(APP, "cron")},
                      "spec": _pod(settings, [cron], restart="Never")}}}}},
        k.service(APP, APP, lb, [("http", PORT, PORT)]),
        k.ingress(APP, APP, host, c.issuer(settings), [("/", APP, PORT)]),
        *c.network_policies(settings, APP, [PORT], [n.POSTGRES_RW, n.REDIS_MASTER], s3=True),
    ]
    if web.replicas > 1:
        out.append(k.pdb(APP, APP, lb))
    return out
