"""`monitoring.*` config keys -> MonitoringSettings (pure). The receivers' secrets (SMTP password,
Slack webhook URL, dead man's switch URL) are top-level secret keys (model.OPTIONAL_SECRET_KEYS);
here only whether each is set, and its form, are checked."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.settings.reader import Reader

HOST_PORT_RE = r"[A-Za-z0-9.-]+:\d{1,5}"
URL_RE = r"https?://[^\s]+"
EMAIL_RE = r"[^@\s]+@[^@\s]+\.[^@\s]+"


@dataclass(frozen=True)
class SmtpSettings:
    smarthost: str  # host:port
    sender: str
    username: str | None
    require_tls: bool
    password: bool  # the secret smtpPassword is set


@dataclass(frozen=True)
class MonitoringSettings:
    retention_days: int
    retention_disk_percent: int  # Prometheus' size-based retention: this share of its filesystem
    scrape_interval_seconds: int
    evaluation_interval_seconds: int
    alert_email: str | None  # e-mail receiver (needs smtp)
    smtp: SmtpSettings | None
    webhook_url: str | None  # generic webhook receiver (Alertmanager's webhook_config)
    slack: bool  # the secret slackWebhookUrl is set
    slack_channel: str | None
    deadmans_switch: bool  # the secret deadMansSwitchUrl is set: Watchdog goes there
    journal_retention_days: int
    journal_max_use_percent: int  # received journals: at most this share of their filesystem
    grafana_enabled: bool
    loki_enabled: bool
    loki_retention_days: int
    loki_storage: str  # filesystem | s3


def _present(values: Mapping[str, Any], key: str) -> bool:
    return values.get(key) not in (None, "")


def parse_monitoring(r: Reader, raw: Any, domain: str, values: Mapping[str, Any]) -> MonitoringSettings:
    """`values`: the whole config (for the top-level secret keys)."""
    m = r.obj("monitoring", raw, (
        "retentionDays", "retentionDiskPercent", "scrapeIntervalSeconds", "evaluationIntervalSeconds",
        "alertEmail", "smtp", "webhookUrl", "slackChannel", "journalRetentionDays", "journalMaxUsePercent",
        "grafana", "loki",
    ))
    email = r.string("monitoring.alertEmail", m.get("alertEmail"), "", pattern=EMAIL_RE,
                     what="an e-mail address") or None
    s = r.obj("monitoring.smtp", m.get("smtp"), ("smarthost", "from", "username", "requireTls"))
    smtp = None
    if s:
        if "smarthost" not in s:
            r.problem("monitoring.smtp.smarthost", "is required with monitoring.smtp (host:port of the mail relay)")
        smtp = SmtpSettings(
            smarthost=r.string("monitoring.smtp.smarthost", s.get("smarthost"), "localhost:25",
                               pattern=HOST_PORT_RE, what="host:port"),
            sender=r.string("monitoring.smtp.from", s.get("from"), f"alertmanager@{domain}", pattern=EMAIL_RE,
                            what="an e-mail address"),
            username=r.optional_string("monitoring.smtp.username", s.get("username")),
            require_tls=r.boolean("monitoring.smtp.requireTls", s.get("requireTls"), True),
            password=_present(values, "smtpPassword"),
        )
        if smtp.username and not smtp.password:
            r.problem("smtpPassword", "is required with monitoring.smtp.username; set it with "
                      "`pulumi config set --secret platform:smtpPassword`")
    if email and smtp is None:
        r.problem("monitoring.alertEmail", "needs monitoring.smtp (smarthost, from) to send mail")
    webhook = r.string("monitoring.webhookUrl", m.get("webhookUrl"), "", pattern=URL_RE,
                       what="an http(s) URL") or None
    for key in ("slackWebhookUrl", "deadMansSwitchUrl"):
        v = values.get(key)
        if _present(values, key) and not (isinstance(v, str) and re.fullmatch(URL_RE, v)):
            r.problem(key, "must be an http(s) URL")  # the value is secret: not repeated here
    g = r.obj("monitoring.grafana", m.get("grafana"), ("enabled",))
    lo = r.obj("monitoring.loki", m.get("loki"), ("enabled", "retentionDays", "storage"))
    return MonitoringSettings(
        retention_days=r.integer("monitoring.retentionDays", m.get("retentionDays"), 15, lo=1, hi=3650),
        retention_disk_percent=r.integer("monitoring.retentionDiskPercent", m.get("retentionDiskPercent"), 70,
                                         lo=10, hi=90),
        scrape_interval_seconds=r.integer("monitoring.scrapeIntervalSeconds", m.get("scrapeIntervalSeconds"),
                                          15, lo=5, hi=300),
        evaluation_interval_seconds=r.integer("monitoring.evaluationIntervalSeconds",
                                              m.get("evaluationIntervalSeconds"), 15, lo=5, hi=300),
        alert_email=email,
        smtp=smtp,
        webhook_url=webhook,
        slack=_present(values, "slackWebhookUrl"),
        slack_channel=r.optional_string("monitoring.slackChannel", m.get("slackChannel")),
        deadmans_switch=_present(values, "deadMansSwitchUrl"),
        journal_retention_days=r.integer("monitoring.journalRetentionDays", m.get("journalRetentionDays"), 30,
                                         lo=1, hi=3650),
        journal_max_use_percent=r.integer("monitoring.journalMaxUsePercent", m.get("journalMaxUsePercent"), 20,
                                          lo=1, hi=80),
        grafana_enabled=r.boolean("monitoring.grafana.enabled", g.get("enabled"), True),
        loki_enabled=r.boolean("monitoring.loki.enabled", lo.get("enabled"), True),
        loki_retention_days=r.integer("monitoring.loki.retentionDays", lo.get("retentionDays"), 30, lo=1, hi=3650),
        loki_storage=r.string("monitoring.loki.storage", lo.get("storage"), "filesystem",
                              allowed=("filesystem", "s3")),
    )
