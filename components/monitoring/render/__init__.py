"""Pure renderers of the monitoring VM's files, one module per rendered service: Prometheus
(prometheus.yml, file_sd, rule files), Alertmanager, the blackbox exporter, the journal hop,
Grafana, Loki and Alloy. No Pulumi imports."""
