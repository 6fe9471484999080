"""Alertmanager (one instance, gossip off): receivers from settings, routing by severity, grouping
per component, inhibition, and the Watchdog to the dead man's switch. Secret values (SMTP password,
Slack and dead man's switch URLs) are `{{secret:NAME}}` placeholders, substituted on the host."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from components.contract import GROUP_INTERVAL_S, Alert
from components.monitoring import names as n
from components.plan import placeholder
from components.settings import Settings

HEADER = "# Rendered by the platform program (components/monitoring/render/alertmanager.py); do not edit.\n"
NOTIFY = "platform"
DEADMAN = "deadmans-switch"
NULL = "null"
# Alerts of a host's services are silenced while the host is down (HostDown names the host).
HOST_SCOPED = "HostDown"
GROUP_BY = ["stack", "component", "alertname"]
# Per severity: critical at once, news and resolutions within 30 s, reminders hourly; warnings batched.
TIMING = {severity: {"group_wait": wait, "group_interval": f"{GROUP_INTERVAL_S[severity]}s", "repeat_interval": repeat}
          for severity, wait, repeat in (("critical", "5s", "1h"), ("warning", "30s", "4h"))}


def secret_names(settings: Settings) -> list[str]:
    m = settings.monitoring
    out = []
    if m.smtp is not None and m.smtp.password:
        out.append(n.SECRET_SMTP_PASSWORD)
    if m.slack:
        out.append(n.SECRET_SLACK_URL)
    if m.deadmans_switch:
        out.append(n.SECRET_DEADMANS_URL)
    return out


def _notify_receiver(settings: Settings) -> dict[str, object]:
    m = settings.monitoring
    r: dict[str, object] = {"name": NOTIFY}
    if m.alert_email and m.smtp is not None:
        email: dict[str, object] = {"to": m.alert_email, "send_resolved": True}
        r["email_configs"] = [email]
    if m.webhook_url:
        r["webhook_configs"] = [{"url": m.webhook_url, "send_resolved": True, "max_alerts": 0}]
    if m.slack:
        slack: dict[str, object] = {
            "api_url": placeholder(n.SECRET_SLACK_URL), "send_resolved": True,
            "title": '{{ .Status | toUpper }}: {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})',
            "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
        }
        if m.slack_channel:
            slack["channel"] = m.slack_channel
        r["slack_configs"] = [slack]
    return r


def render_alertmanager(settings: Settings, alerts: Sequence[Alert] = ()) -> str:
    """`alerts`: every component's (contract.Alert); those with `per` get a route of their own."""
    m = settings.monitoring
    cfg: dict[str, object] = {"global": {"resolve_timeout": "5m"}}
    if m.smtp is not None:
        smtp: dict[str, object] = {"smtp_smarthost": m.smtp.smarthost, "smtp_from": m.smtp.sender,
                                   "smtp_require_tls": m.smtp.require_tls}
        if m.smtp.username:
            smtp["smtp_auth_username"] = m.smtp.username
        if m.smtp.password:
            smtp["smtp_auth_password"] = placeholder(n.SECRET_SMTP_PASSWORD)
        cfg["global"] = {**cfg["global"], **smtp}  # type: ignore[dict-item]
    notify = _notify_receiver(settings)
    has_notify = len(notify) > 1
    receivers: list[dict[str, object]] = [{"name": NULL}]
    if has_notify:
        receivers.append(notify)
    if m.deadmans_switch:
        receivers.append({"name": DEADMAN, "webhook_configs": [
            {"url": placeholder(n.SECRET_DEADMANS_URL), "send_resolved": False}]})
    target = NOTIFY if has_notify else NULL
    cfg["route"] = {
        "receiver": target,
        # One notification per component and alert name (e.g. all exporters of a dead VM: one page).
        "group_by": GROUP_BY,
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        "routes": [
            # The Watchdog: continuously, to the dead man's switch only (or nowhere).
            {"matchers": ['alertname="Watchdog"'], "receiver": DEADMAN if m.deadmans_switch else NULL,
             "group_wait": "0s", "group_interval": "1m", "repeat_interval": "1m"},
            # scripts/verify's test alert: delivered at once to the notification receivers. Each one
            # (its `run` label) is a group of its own: added to the group of an earlier run's alert
            # (still active for resolve_timeout) it would wait for that group's next flush.
            {"matchers": ['alertname="PlatformVerifyTest"'], "receiver": target, "group_by": ["..."],
             "group_wait": "0s", "group_interval": "1m", "repeat_interval": "24h"},
            # One group per instance (Alert.per: each failover's new primary), its severity's timing.
            *({"matchers": [f'alertname="{a.name}"'], "receiver": target, "group_by": [*GROUP_BY, a.per],
               **TIMING[a.severity]} for a in alerts if a.per and a.severity in TIMING),
            {"matchers": ['severity="critical"'], "receiver": target, **TIMING["critical"]},
            {"matchers": ['severity="warning"'], "receiver": target, **TIMING["warning"]},
            # Info: on the board (Alertmanager, Grafana), not sent.
            {"matchers": ['severity="info"'], "receiver": NULL},
        ],
    }
    cfg["inhibit_rules"] = [
        {"source_matchers": [f'alertname="{HOST_SCOPED}"'], "target_matchers": [f'alertname!="{HOST_SCOPED}"'],
         "equal": ["stack", "host"]},
        {"source_matchers": ['alertname="PatroniNoLeader"'],
         "target_matchers": ['alertname="RouterPrimaryBackendDown"'], "equal": ["stack"]},
        {"source_matchers": ['alertname="RedisNoMaster"'], "target_matchers": ['alertname="RouterRedisBackendDown"'],
         "equal": ["stack"]},
        {"source_matchers": ['alertname="GaleraNoWritableNode"'],
         "target_matchers": ['alertname="RouterMariadbBackendDown"'], "equal": ["stack"]},
        # A critical alert silences the warnings of the same component.
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
         "equal": ["stack", "component", "host"]},
    ]
    cfg["receivers"] = receivers
    return HEADER + yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False, width=120)


def render_defaults(mon_ip: str) -> str:
    """/etc/default/prometheus-alertmanager: one instance, gossip off, on the private address."""
    args = [f"--config.file={n.ALERTMANAGER_CONFIG}", "--storage.path=/var/lib/prometheus/alertmanager",
            f"--web.listen-address={mon_ip}:{n.ALERTMANAGER_PORT}", "--cluster.listen-address="]
    return ("# Rendered by the platform program (components/monitoring/render/alertmanager.py).\n"
            f'ARGS="{" ".join(args)}"\n')
