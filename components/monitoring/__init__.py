"""MonitoringHost: Prometheus, Alertmanager, the blackbox exporter and the journal sink on the
monitoring VM (Grafana, Loki and Alloy where enabled), every VM shipping its journal there.
Fed only by the components' contracts: scrape jobs, alerts, TLS endpoints.

    names.py      ports, paths, datasource uids        render/      pure renderers, one per service
    alerts.py     its own alerts (targets, certs, ...)  contract.py  ports, scrape jobs
    plan.py       its steps, from settings + contracts  component.py the ComponentResource (Pulumi)
    checks.py     its `scripts/verify` lines            host/, files/ step scripts, installed scripts
"""
