"""The monitoring component's steps, from settings and every component's contract (pure):

    <mon>-prometheus        Prometheus, file_sd per job, a rule file per component, the blackbox
                            exporter, the STARTTLS certificate probe; after the host's baseline
    <mon>-alertmanager      Alertmanager with the configured receivers; after the host's baseline
    <mon>-journal-remote    the journal sink; after the host's baseline
    <host>-journal-upload   every other VM: ships its journal; after its baseline and the sink
    <mon>-loki              with monitoring.loki.enabled: Loki and Alloy (the received journals
                            to Loki); after the journal sink
    <mon>-grafana           with monitoring.grafana.enabled: Grafana, datasources, dashboards;
                            after Prometheus and Alertmanager (and Loki where enabled)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from components.baseline.plan import ready_step
from components.contract import Contract, scrape_jobs, tls_probes
from components.monitoring import dashboards
from components.monitoring import names as n
from components.monitoring.render import alertmanager, grafana, journal, loki, probes, prometheus
from components.plan import (
    ConfigSecret,
    FileValue,
    Password,
    Plan,
    SecretValue,
    Step,
    bucket_ref,
    host_tls,
    s3_credentials,
)
from components.settings import Settings

HOST_DIR = Path(__file__).parent / "host"
FILES_DIR = Path(__file__).parent / "files"
# Receiver secrets: placeholder name -> the optional secret config key that holds it.
GRAFANA_PASSWORD = "platform-grafana-admin"  # the generated admin password (stack output grafanaAdminPassword)
RECEIVER_SECRETS = {n.SECRET_SMTP_PASSWORD: "smtpPassword", n.SECRET_SLACK_URL: "slackWebhookUrl",
                    n.SECRET_DEADMANS_URL: "deadMansSwitchUrl"}


def prometheus_files(settings: Settings, contracts: Sequence[Contract], mon_ip: str) -> dict[str, FileValue]:
    jobs = scrape_jobs(contracts)
    rules = prometheus.rule_files(contracts)
    files: dict[str, FileValue] = {
        "prometheus.yml": prometheus.render_prometheus(settings, jobs, sorted(rules), mon_ip),
        "prometheus.default": prometheus.render_defaults(settings, mon_ip),
        **{f"sd-{j.job}.json": prometheus.file_sd(settings, j) for j in jobs},
        f"sd-{prometheus.TLS_JOB}.json": prometheus.tls_file_sd(settings, tls_probes(contracts)),
        **{f"rules-{name}": text for name, text in rules.items()},
        "blackbox.yml": probes.render_blackbox(),
        "blackbox.default": probes.render_blackbox_defaults(),
        "tls-probe": (FILES_DIR / "tls-probe.sh").read_text(),
        "tls-probe.targets": probes.render_starttls_targets(tls_probes(contracts)),
        **probes.render_probe_units(),
    }
    return files


def plan(settings: Settings, contracts: Sequence[Contract]) -> Plan:
    mon = n.monitoring_host(settings)
    m = settings.monitoring
    steps: list[Step] = []

    tls_files, tls_secrets = host_tls(mon, "ca.crt", "client.crt", n.SECRET_HOST_KEY)
    steps.append(Step(
        name=f"{mon.name}-prometheus", host=mon, script=HOST_DIR / "prometheus.sh",
        files={**prometheus_files(settings, contracts, mon.private_ip), **tls_files}, secrets=tls_secrets,
        params={"MON_IP": mon.private_ip, "PROMETHEUS_PORT": str(n.PROMETHEUS_PORT),
                "RETENTION_DISK_PERCENT": str(m.retention_disk_percent)},
        after=(ready_step(mon),),
    ))
    am_secrets: dict[str, SecretValue] = {
        name: ConfigSecret(RECEIVER_SECRETS[name]) for name in alertmanager.secret_names(settings)}
    steps.append(Step(
        name=f"{mon.name}-alertmanager", host=mon, script=HOST_DIR / "alertmanager.sh",
        files={"alertmanager.yml": alertmanager.render_alertmanager(settings, [a for c in contracts for a in c.alerts]),
               "alertmanager.default": alertmanager.render_defaults(mon.private_ip)},
        secrets=am_secrets,
        params={"MON_IP": mon.private_ip, "ALERTMANAGER_PORT": str(n.ALERTMANAGER_PORT)},
        after=(ready_step(mon),),
    ))

    files, secrets = host_tls(mon, "ca.crt", "host.crt", n.SECRET_HOST_KEY)
    sink = Step(
        name=f"{mon.name}-journal-remote", host=mon, script=HOST_DIR / "journal_remote.sh",
        files={**files, "journal-remote.conf": journal.render_remote_conf(),
               "journal-maintain": (FILES_DIR / "journal-maintain.sh").read_text(),
               "journal-maintain.env": journal.render_maintenance_env(
                   m.journal_retention_days, m.journal_max_use_percent,
                   {h.private_ip: h.name for h in settings.hosts.all() if h.name != mon.name}),
               **journal.render_maintenance_units()},
        secrets=secrets, after=(ready_step(mon),),
    )
    steps.append(sink)
    for h in settings.hosts.all():
        if h.name == mon.name:
            continue  # its journal is already here
        files, secrets = host_tls(h, "ca.crt", "host.crt", n.SECRET_HOST_KEY)
        steps.append(Step(
            name=f"{h.name}-journal-upload", host=h, script=HOST_DIR / "journal_upload.sh",
            files={**files, "journal-upload.conf": journal.render_upload_conf(mon.private_ip),
                   "journal-upload.dropin": journal.render_upload_dropin(), **journal.render_heartbeat_units()},
            secrets=secrets, after=(ready_step(h), sink.name),
        ))
    grafana_after = [f"{mon.name}-prometheus", f"{mon.name}-alertmanager"]
    if m.loki_enabled:
        steps.append(loki_step(settings, sink.name))
        grafana_after.append(steps[-1].name)
    if not m.grafana_enabled:
        return Plan(steps=tuple(steps))
    steps.append(Step(
        name=f"{mon.name}-grafana", host=mon, script=HOST_DIR / "grafana.sh",
        files={"grafana-apt.sh": (HOST_DIR / "grafana_apt.sh").read_text(),
               "grafana.ini": grafana.render_ini(mon.private_ip),
               "datasources.yml": grafana.render_datasources(settings, mon.private_ip),
               "dashboards.yml": grafana.render_dashboard_provider(),
               **{f"dashboard-{d.uid}.json": dashboards.render_dashboard(d) for d in dashboards.DASHBOARDS}},
        secrets={n.SECRET_GRAFANA_ADMIN: Password(GRAFANA_PASSWORD)},
        params={"MON_IP": mon.private_ip, "GRAFANA_PORT": str(n.GRAFANA_PORT)},
        after=tuple(grafana_after),
    ))
    return Plan(steps=tuple(steps), passwords=(GRAFANA_PASSWORD,))


def loki_step(settings: Settings, sink: str) -> Step:
    mon = n.monitoring_host(settings)
    files: dict[str, FileValue] = {
        "grafana-apt.sh": (HOST_DIR / "grafana_apt.sh").read_text(),
        "loki.yml": loki.render_loki_config(settings, mon.private_ip),
        "config.alloy": loki.render_alloy_config(settings),
        "alloy.default": loki.render_alloy_defaults(mon.private_ip),
    }
    secrets: dict[str, SecretValue] = {}
    after = [sink]
    if settings.monitoring.loki_storage == "s3":
        secrets = s3_credentials()
        after.append(bucket_ref("backups"))
        if settings.s3.ca_certificate:
            files["s3-ca.crt"] = settings.s3.ca_certificate
    return Step(
        name=f"{mon.name}-loki", host=mon, script=HOST_DIR / "loki.sh", files=files, secrets=secrets,
        params={"MON_IP": mon.private_ip, "LOKI_PORT": str(n.LOKI_PORT), "ALLOY_PORT": str(n.ALLOY_PORT)},
        after=tuple(after),
    )
