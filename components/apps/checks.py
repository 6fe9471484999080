"""AppStack lines of the checklist, asked of the cluster with `k3s kubectl` on the first server
(components/k3s/checks.py): each app's health endpoint through Traefik with a valid certificate
for its host name, endpoints behind every router Service, Nextcloud installed on S3, the Odoo and
Keycloak pods Ready, Mautic's cron jobs run. SKIP with the reason where K3s or the apps are off.

The judgements are pure (`*_rows`) and unit-tested on API-shaped documents; no cluster ran here."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from components.apps import names as n
from components.apps.render import common, mautic, nextcloud
from components.checks import FAIL, PASS, SKIP, Context, Row, check, first_line
from components.k3s import names as k3s_names
from components.k3s.checks import _kubectl, deployment_rows
from components.settings import Settings

GROUP = "apps"
CRON_MAX_AGE_S = 3600  # every Mautic job runs each 15 minutes


def _skip(ctx: Context, app: str | None = None) -> list[Row] | None:
    s = ctx.settings
    if not s.k3s.enabled:
        return [Row(SKIP, "-", "k3s.enabled is false")]
    if app and app not in s.enabled_apps():
        return [Row(SKIP, app, f"apps.{app}.enabled is false")]
    return None


def endpoint_rows(settings: Settings, doc: dict[str, Any]) -> list[Row]:
    items = {i["metadata"]["name"]: i for i in doc.get("items", [])}
    rows = []
    for svc in n.router_services(settings):
        ready = [a for sub in items.get(svc.name, {}).get("subsets") or [] for a in sub.get("addresses") or []]
        rows.append(Row(PASS if ready else FAIL, f"{n.PLATFORM_NAMESPACE}/{svc.name}",
                        f"{len(ready)} ready endpoint(s)"))
    return rows


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cronjob_rows(doc: dict[str, Any], names: Sequence[str], now: float) -> list[Row]:
    items = {i["metadata"]["name"]: i for i in doc.get("items", [])}
    rows = []
    for name in names:
        last = items.get(name, {}).get("status", {}).get("lastSuccessfulTime")
        if name not in items:
            rows.append(Row(FAIL, name, "no such CronJob"))
        elif not last:
            rows.append(Row(FAIL, name, "never succeeded"))
        else:
            age = now - _time(last)
            rows.append(Row(PASS if age <= CRON_MAX_AGE_S else FAIL, name, f"last success {age / 60:.0f} min ago"))
    return rows


def nextcloud_rows(status_text: str, objectstore_class: str) -> list[Row]:
    try:
        status = json.loads(status_text)
    except json.JSONDecodeError:
        return [Row(FAIL, "occ status", first_line(status_text) or "no output")]
    installed = status.get("installed") is True
    s3 = objectstore_class.strip().endswith("ObjectStore\\S3")
    return [Row(PASS if installed and not status.get("maintenance") else FAIL, "occ status",
                f"installed={installed}, maintenance={status.get('maintenance')}, {status.get('versionstring', '?')}"),
            Row(PASS if s3 else FAIL, "objectstore", objectstore_class.strip() or "not set")]


def health_rows(app: str, url: str, code: str, ssl_verify: str) -> list[Row]:
    ok = code.startswith("2") and ssl_verify == "0"
    return [Row(PASS if ok else FAIL, app, f"{url}: HTTP {code or '-'}, certificate verify result {ssl_verify or '-'}")]


def _first(ctx: Context) -> Any:
    return k3s_names.first_server(ctx.settings)


@check(GROUP, "each app's health endpoint through Traefik, with a valid certificate for its name")
def health(ctx: Context) -> list[Row]:
    if (skip := _skip(ctx)) is not None:
        return skip
    svc, err = _kubectl(ctx, "get service traefik -n kube-system")
    ingress = ((svc or {}).get("status", {}).get("loadBalancer", {}).get("ingress") or [{}])[0].get("ip")
    if not ingress:
        return [Row(FAIL, "traefik", err or "no LoadBalancer address")]
    rows = []
    for app in ctx.settings.enabled_apps():
        host = common.hostname(ctx.settings, app)
        url = f"https://{host}{n.HEALTH_PATHS[app]}"
        cmd = (f"curl -sS -o /dev/null --max-time 15 --resolve {shlex.quote(f'{host}:443:{ingress}')} "
               f"-w '%{{http_code}} %{{ssl_verify_result}}' {shlex.quote(url)}")
        p = ctx.run(_first(ctx), cmd, timeout=30)
        code, _, verify = p.stdout.strip().partition(" ")
        rows += health_rows(app, url, code if p.returncode == 0 else "", verify)
    return rows


@check(GROUP, "every router Service has ready endpoints")
def router_endpoints(ctx: Context) -> list[Row]:
    if (skip := _skip(ctx)) is not None:
        return skip
    if ctx.settings.router.placement != "k3s":
        return [Row(SKIP, "-", "router.placement is 'vms'")]
    doc, err = _kubectl(ctx, f"get endpoints -n {n.PLATFORM_NAMESPACE}")
    return endpoint_rows(ctx.settings, doc) if doc is not None else [Row(FAIL, "-", err)]


def _occ(ctx: Context, args: str) -> str:
    inner = shlex.quote(f"php {nextcloud.HTML}/occ {args}")
    p = ctx.sudo(_first(ctx), f"{k3s_names.BINARY} kubectl exec -n nextcloud deploy/nextcloud -- "
                 f"su -s /bin/sh www-data -c {inner}", timeout=60)
    return p.stdout if p.returncode == 0 else (p.stderr or p.stdout)


@check(GROUP, "Nextcloud installed (occ status) with S3 primary storage")
def nextcloud_status(ctx: Context) -> list[Row]:
    if (skip := _skip(ctx, "nextcloud")) is not None:
        return skip
    return nextcloud_rows(_occ(ctx, "status --output=json"), _occ(ctx, "config:system:get objectstore class"))


@check(GROUP, "Odoo and Keycloak pods Ready")
def pods_ready(ctx: Context) -> list[Row]:
    if (skip := _skip(ctx)) is not None:
        return skip
    rows = []
    for app in ("odoo", "keycloak"):
        if app not in ctx.settings.enabled_apps():
            rows.append(Row(SKIP, app, f"apps.{app}.enabled is false"))
            continue
        doc, err = _kubectl(ctx, f"get deployments -n {app}")
        rows += deployment_rows(doc, app, (app,)) if doc is not None else [Row(FAIL, app, err)]
    return rows


@check(GROUP, "Mautic's cron jobs have run in the last hour")
def mautic_cron(ctx: Context) -> list[Row]:
    if (skip := _skip(ctx, "mautic")) is not None:
        return skip
    doc, err = _kubectl(ctx, "get cronjobs -n mautic")
    names = [f"{mautic.APP}-{j}" for j in mautic.CRON_JOBS]
    return cronjob_rows(doc, names, time.time()) if doc is not None else [Row(FAIL, "-", err)]
