"""Grafana on the monitoring VM (from Grafana's apt repository, `monitoring.grafana.enabled`):
grafana.ini bound to the private address, provisioned datasources with fixed uids (Prometheus,
Alertmanager, and Loki where enabled), and the dashboard provider for the generated dashboards
(components/monitoring/dashboards.py). The admin password is a generated secret read from a file
(`$__file{}`), never written into grafana.ini. Pure."""

from __future__ import annotations

import yaml

from components.monitoring import names as n
from components.settings import Settings

HEADER = "# Rendered by the platform program (components/monitoring/render/grafana.py).\n"
ADMIN_PASSWORD_FILE = "/etc/grafana/admin-password"
DASHBOARD_DIR = "/var/lib/grafana/dashboards/platform"


def render_ini(mon_ip: str) -> str:
    return HEADER.replace("# ", "; ") + "\n".join([
        "[server]",
        f"http_addr = {mon_ip}",
        f"http_port = {n.GRAFANA_PORT}",
        "[security]",
        "admin_user = admin",
        # Read at first start (the database is created with it); later changes go through
        # `grafana-cli admin reset-admin-password` (host/grafana.sh).
        f"admin_password = $__file{{{ADMIN_PASSWORD_FILE}}}",
        "disable_gravatar = true",
        "[users]",
        "allow_sign_up = false",
        "[auth.anonymous]",
        "enabled = false",
        "[analytics]",
        "reporting_enabled = false",
        "check_for_updates = false",
        "check_for_plugin_updates = false",
        "[paths]",
        "provisioning = /etc/grafana/provisioning",
        "",
    ])


def render_datasources(settings: Settings, mon_ip: str) -> str:
    sources: list[dict[str, object]] = [
        {"name": "Prometheus", "type": "prometheus", "uid": n.DATASOURCE_PROMETHEUS, "access": "proxy",
         "url": f"http://{mon_ip}:{n.PROMETHEUS_PORT}", "isDefault": True, "editable": False,
         "jsonData": {"timeInterval": f"{settings.monitoring.scrape_interval_seconds}s"}},
        {"name": "Alertmanager", "type": "alertmanager", "uid": n.DATASOURCE_ALERTMANAGER, "access": "proxy",
         "url": f"http://{mon_ip}:{n.ALERTMANAGER_PORT}", "editable": False,
         "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False}},
    ]
    if settings.monitoring.loki_enabled:
        sources.append({"name": "Loki", "type": "loki", "uid": n.DATASOURCE_LOKI, "access": "proxy",
                        "url": f"http://{mon_ip}:{n.LOKI_PORT}", "editable": False})
    data = {"apiVersion": 1, "datasources": sources}
    return HEADER + yaml.safe_dump(data, sort_keys=False)


def render_dashboard_provider() -> str:
    data = {"apiVersion": 1, "providers": [{
        "name": "platform", "folder": "Platform", "type": "file", "disableDeletion": True,
        "allowUiUpdates": False, "updateIntervalSeconds": 60,
        "options": {"path": DASHBOARD_DIR, "foldersFromFilesStructure": False},
    }]}
    return HEADER + yaml.safe_dump(data, sort_keys=False)
