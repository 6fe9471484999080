"""Mautic (mautic/mautic, docker-mautic's apache image) on K3s (pure): the web and worker roles as
Deployments (DOCKER_MAUTIC_ROLE), its cron jobs as CronJobs, MariaDB through `mariadb-rw`, its
cache in Redis through the Sentinels (Predis `replication: sentinel`), shared volumes for config,
media and logs.

Settings reach Mautic through MAUTIC_CONFIG_PARAMETERS (JSON; Mautic's ParameterLoader merges it
over local.php), which holds the Redis password, so it comes from the app's Secret. Mautic's
Doctrine connection has no TLS option (app/config/config.php), while MariaDB requires TLS: the
`config/security_local.php` hook, which Mautic's config_prod.php imports in place of security.php,
imports security.php and adds the PDO TLS options to both of its connections.
"""

from __future__ import annotations

import json
from typing import Any

from components.apps import names as n
from components.apps.render import common as c
from components.apps.render import kube as k
from components.apps.render.sizing import size
from components.mariadb import names as mdb
from components.plan import Password, placeholder
from components.redis.names import SENTINEL_PORT, sentinel_hosts
from components.settings import Settings

APP = "mautic"
PORT = 80
HTML = "/var/www/html"
UID = 33  # www-data
CACHE_PREFIX = "mautic"  # Symfony's cache namespace: keys are `mautic:<id>`, inside the ACL's `mautic:*`
SECRET_REDIS = "mautic_redis_password"
SECURITY_LOCAL = f"{HTML}/config/security_local.php"
# docker-mautic's cron file (common/templates/mautic_cron), as CronJobs: command -> schedule.
CRON_JOBS = {
    "segments-update": ("mautic:segments:update", "0,15,30,45 * * * *"),
    "campaigns-update": ("mautic:campaigns:update", "5,20,35,50 * * * *"),
    "campaigns-trigger": ("mautic:campaigns:trigger", "10,25,40,55 * * * *"),
}
ROLES = ("web", "worker")
ROOT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID", "NET_BIND_SERVICE", "KILL")


def sentinel_uris(settings: Settings) -> list[str]:
    return [f"tcp://{h.private_ip}:{SENTINEL_PORT}" for h in sentinel_hosts(settings)]


def config_parameters(settings: Settings) -> dict[str, Any]:
    """MAUTIC_CONFIG_PARAMETERS; the Redis password as a placeholder."""
    return {
        "site_url": c.url(settings, APP),
        "trusted_proxies": c.trusted_proxies(settings),
        "cache_adapter": "mautic.cache.adapter.redis",
        "cache_prefix": CACHE_PREFIX,
        "cache_adapter_redis": {
            # A list: Mautic hands it to Predis as the Sentinels; Predis asks them for the master.
            "dsn": sentinel_uris(settings),
            "options": {"replication": "sentinel", "service": settings.redis.master_name,
                        # Predis 1.1 (Mautic's) sends AUTH user password to the master, nothing to Sentinels.
                        "parameters": {"username": APP, "password": placeholder(SECRET_REDIS)}},
        },
        "messenger_dsn_email": "doctrine://default",
        "messenger_dsn_hit": "doctrine://default",
    }


def render_security_local() -> str:
    ca = n.CA_FILE
    return f"""<?php
// Rendered by the platform program (components/apps/render/mautic.py); do not edit.
// Mautic imports this file instead of app/config/security.php: keep that one, then add TLS to
// MariaDB (which requires it) for both of Mautic's Doctrine connections.
$loader->import('%kernel.project_dir%/app/config/security.php');
$platformTls = [
    PDO::MYSQL_ATTR_SSL_CA => '{ca}',
    // The server's certificate names the database VM, not the router's Service.
    PDO::MYSQL_ATTR_SSL_VERIFY_SERVER_CERT => false,
];
$container->loadFromExtension('doctrine', [
    'dbal' => ['connections' => [
        'default' => ['options' => $platformTls],
        'unbuffered' => ['options' => $platformTls],
    ]],
]);
"""


def secret(settings: Settings) -> k.SecretSpec:
    return k.SecretSpec(APP, n.app_secret(APP), {
        "mariadb-password": k.OutputValue("mariadbMautic", ("password",)),
        "config-parameters": k.Template(json.dumps(config_parameters(settings), sort_keys=True),
                                        {SECRET_REDIS: k.OutputValue("redisApps", (APP, "password"))}),
        "admin-password": Password(n.admin_password(APP)),
    })


def env(settings: Settings, role: str) -> list[k.Obj]:
    sec = n.app_secret(APP)
    r = n.MARIADB_RW
    return [
        k.env_value("DOCKER_MAUTIC_ROLE", f"mautic_{role}"),
        k.env_value("MAUTIC_DB_HOST", r.host()),
        k.env_value("MAUTIC_DB_PORT", str(r.port)),
        k.env_value("MAUTIC_DB_DATABASE", mdb.DATABASE),
        k.env_value("MAUTIC_DB_USER", mdb.APP_USER),
        k.env_secret("MAUTIC_DB_PASSWORD", sec, "mariadb-password"),
        k.env_secret("MAUTIC_CONFIG_PARAMETERS", sec, "config-parameters"),
    ]


def _volumes() -> tuple[list[k.Obj], list[k.Obj]]:
    ca_vol, ca_mount = k.ca_volume()
    vols: list[k.Obj] = [{"name": "data", "persistentVolumeClaim": {"claimName": f"{APP}-data"}},
            {"name": "platform", "configMap": {"name": f"{APP}-platform"}}, ca_vol]
    mounts: list[k.Obj] = [{"name": "data", "mountPath": f"{HTML}/config", "subPath": "config"},
              {"name": "data", "mountPath": f"{HTML}/docroot/media", "subPath": "media"},
              {"name": "data", "mountPath": f"{HTML}/var/logs", "subPath": "logs"},
              {"name": "platform", "mountPath": SECURITY_LOCAL, "subPath": "security_local.php", "readOnly": True},
              ca_mount]
    return vols, mounts


def _with_web(lb_web: dict[str, str]) -> k.Obj:
    """On the web pod's node: the volume is ReadWriteOnce (local-path), shared by every role."""
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": lb_web}, "topologyKey": "kubernetes.io/hostname"}]}}


def _pod(containers: list[k.Obj], affinity: k.Obj | None, restart: str | None = None) -> k.Obj:
    vols, _ = _volumes()
    pod: k.Obj = {"automountServiceAccountToken": False, "enableServiceLinks": False,
                  "containers": containers, "volumes": vols}
    if affinity:
        pod["affinity"] = affinity
    if restart:
        pod["restartPolicy"] = restart
    return pod


def objects(settings: Settings) -> list[k.Obj]:
    _, mounts = _volumes()
    sec = secret(settings)
    platform_files = {"security_local.php": render_security_local()}
    sum_ = k.checksum(sec.checksum(), platform_files)
    lb_web = k.app_labels(APP, "web")
    login = k.http_probe("/s/login", PORT)
    out: list[k.Obj] = [
        k.config_map(f"{APP}-platform", APP, platform_files, k.app_labels(APP)),
        k.pvc(f"{APP}-data", APP, "10Gi", settings.apps.storage_class, k.app_labels(APP)),
    ]
    for role in ROLES:
        lb = k.app_labels(APP, role)
        sz = size(settings.preset, f"{APP}-{role}")
        container: k.Obj = {
            "name": role, "image": n.IMAGES[APP].ref(), "env": env(settings, role), "volumeMounts": mounts,
            "resources": sz.resources(), "securityContext": k.root_entrypoint_container(*ROOT_CAPS)}
        if role == "web":
            container.update(ports=[{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
                             startupProbe={**login, "failureThreshold": 60}, readinessProbe=login,
                             livenessProbe={**login, "failureThreshold": 6})
        pod = _pod([container], None if role == "web" else _with_web(lb_web))
        out.append(k.deployment(f"{APP}-{role}", APP, lb, pod,
                                replicas=sz.replicas, checksum_value=sum_, recreate=True))
    cron_size = size(settings.preset, f"{APP}-cron")
    for name, (command, schedule) in CRON_JOBS.items():
        lb = k.app_labels(APP, "cron")
        container = {"name": name, "image": n.IMAGES[APP].ref(), "command": ["php", f"{HTML}/bin/console", command],
                     "env": env(settings, "cron"), "volumeMounts": mounts, "resources": cron_size.resources(),
                     "securityContext": {**k.restricted_container(), "runAsNonRoot": True, "runAsUser": UID,
                                         "runAsGroup": UID}}
        out.append({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": k.meta(f"{APP}-{name}", APP, lb),
                    "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 240,
                             "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
                             "jobTemplate": {"spec": {"backoffLimit": 0, "activeDeadlineSeconds": 1800, "template": {
                                 "metadata": {"labels": lb},
                                 "spec": _pod([container], _with_web(lb_web), restart="Never")}}}}})
    sentinels = [f"{h.private_ip}/32" for h in sentinel_hosts(settings)]
    out += [
        k.service(APP, APP, lb_web, [("http", PORT, PORT)]),
        k.ingress(APP, APP, c.hostname(settings, APP), c.issuer(settings), [("/", APP, PORT)]),
        # Predis asks the Sentinels for the master and then connects to it directly.
        *c.network_policies(settings, APP, [PORT], [n.MARIADB_RW],
                            extra_egress=[k.ip_egress(sentinels, [SENTINEL_PORT, 6379])]),
    ]
    return out
