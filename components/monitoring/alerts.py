"""Alerts of the monitoring itself and those that span components: targets down, certificates,
journals, Prometheus and Alertmanager health, and the always-firing Watchdog. Pure."""

from __future__ import annotations

from components.contract import Alert
from components.settings import Settings

CERT_WARN_DAYS = 21
JOURNAL_STALE_SECONDS = 600


def alerts(settings: Settings) -> tuple[Alert, ...]:
    return (
        # Routed to the dead man's switch: if notifications of this stop, monitoring is broken.
        Alert("Watchdog", "vector(1)", "0s", "none",
              "Monitoring of {{ $externalLabels.stack }} is alive",
              "Always firing. Its absence at the dead man's switch receiver means Prometheus, Alertmanager or "
              "the path between them and the receiver is down."),
        Alert("TargetDown", 'up{job!="node"} == 0', "1m", "warning",
              "{{ $labels.job }} on {{ $labels.host }} does not answer",
              "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }} ({{ $labels.host }}) for a "
              "minute: the exporter or the service is down, or the firewall refuses the monitoring VM."),
        Alert("CertificateExpiringSoon",
              f"(probe_ssl_earliest_cert_expiry{{job=\"tls\"}} - time()) / 86400 < {CERT_WARN_DAYS} "
              f"or (platform_tls_cert_not_after_seconds - time()) / 86400 < {CERT_WARN_DAYS}",
              "10m", "warning",
              "The certificate of {{ $labels.service }} on {{ $labels.host }} expires in {{ $value | humanize }} days",
              "`pulumi up` re-issues host certificates in their last 60 days; one this close to expiry means no "
              "`pulumi up` ran, or the service did not reload the new one."),
        Alert("TlsProbeFailed", 'probe_success{job="tls"} == 0 or platform_tls_probe_success == 0', "5m", "warning",
              "TLS handshake with {{ $labels.service }} on {{ $labels.host }} fails",
              "The monitoring VM cannot complete a verified TLS handshake with {{ $labels.service }} at "
              "{{ $labels.instance }}{{ $labels.target }}: down, a certificate not from the platform CA, or expired."),
        Alert("JournalNotReceived",
              f"time() - platform_journal_remote_last_write_timestamp_seconds > {JOURNAL_STALE_SECONDS}",
              "5m", "warning",
              "No journal from {{ $labels.source }} for {{ $value | humanizeDuration }}",
              "systemd-journal-remote on the monitoring VM has written nothing from {{ $labels.source }} for 10 "
              "minutes: check systemd-journal-upload there."),
        Alert("PrometheusRuleFailures", "increase(prometheus_rule_evaluation_failures_total[5m]) > 0", "0s",
              "warning", "Prometheus fails to evaluate rules",
              "Some alerting rules cannot be evaluated; alerts they define would never fire."),
        Alert("AlertmanagerNotificationsFailing",
              "increase(alertmanager_notifications_failed_total[10m]) > 0", "0s", "critical",
              "Alertmanager cannot deliver to {{ $labels.integration }}",
              "Notifications to the {{ $labels.integration }} receiver fail: pages may not arrive. Check "
              "`journalctl -u prometheus-alertmanager` on the monitoring VM."),
    )
