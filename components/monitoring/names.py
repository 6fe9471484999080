"""Names the monitoring component shares between its renderers, plan, contract and checks: ports,
paths on the monitoring VM, fixed datasource uids. Pure; each constant has its one definition here."""

from __future__ import annotations

from components.settings import Host, Settings

PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
BLACKBOX_PORT = 9115
JOURNAL_REMOTE_PORT = 19532  # systemd-journal-remote's default HTTPS port
GRAFANA_PORT = 3000
LOKI_PORT = 3100
ALLOY_PORT = 12345  # Alloy's HTTP server (UI, /metrics): its default port, on the private address

PROMETHEUS_DIR = "/etc/prometheus"
FILE_SD_DIR = "/etc/prometheus/file_sd"
RULES_DIR = "/etc/prometheus/rules"
PROMETHEUS_TLS = "/etc/prometheus/tls"  # ca.crt, client.crt, client.key (the monitoring VM's certificate)
ALERTMANAGER_CONFIG = "/etc/prometheus/alertmanager.yml"
BLACKBOX_CONFIG = "/etc/prometheus/blackbox.yml"
JOURNAL_REMOTE_DIR = "/var/log/journal/remote"
# Every uploading VM writes this journal entry on a timer, so a quiet VM still sends something:
# journal freshness (JournalNotReceived, the verify line) measures the hop, not the VM's chattiness.
HEARTBEAT_IDENTIFIER = "platform-journal-heartbeat"
HEARTBEAT_EVERY_S = 120
# node_exporter's textfile collector directory (Debian's prometheus-node-exporter default).
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"

# Grafana datasource uids: fixed, so dashboards and links never depend on provisioning order.
DATASOURCE_PROMETHEUS = "platform-prometheus"
DATASOURCE_ALERTMANAGER = "platform-alertmanager"
DATASOURCE_LOKI = "platform-loki"

SECRET_GRAFANA_ADMIN = "grafana_admin_password"
SECRET_SMTP_PASSWORD = "smtp_password"
SECRET_SLACK_URL = "slack_webhook_url"
SECRET_DEADMANS_URL = "deadmans_switch_url"
SECRET_HOST_KEY = "host_key"


def monitoring_host(settings: Settings) -> Host:
    return settings.hosts["monitoring"][0]
