#!/usr/bin/env bash
# MonitoringHost: Grafana from Grafana's apt repository (no Debian package), bound to the private
# address, with provisioned datasources and the platform's dashboards. Params: MON_IP,
# GRAFANA_PORT. Files: grafana-apt.sh, grafana.ini, datasources.yml, dashboards.yml, dashboard-*.json.
# Secrets: grafana_admin_password. Not run on the lab (no Grafana package here).
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"
# shellcheck source=components/monitoring/host/grafana_apt.sh
. "$STEP_DIR/files/grafana-apt.sh"

grafana_apt_repo
ensure_packages grafana

first_start=0
[ -f /var/lib/grafana/grafana.db ] || first_start=1
install_secret grafana_admin_password /etc/grafana/admin-password 0640 root:grafana
put grafana.ini /etc/grafana/grafana.ini 0640 root:grafana
put datasources.yml /etc/grafana/provisioning/datasources/platform.yml 0640 root:grafana
put dashboards.yml /etc/grafana/provisioning/dashboards/platform.yml 0640 root:grafana
for f in "$STEP_DIR"/files/dashboard-*.json; do
  name=${f##*/dashboard-}
  put "dashboard-$name" "/var/lib/grafana/dashboards/platform/$name" 0644 root:grafana
done

ensure_enabled grafana-server
if changed_under /etc/grafana || changed_under /var/lib/grafana/dashboards; then
  systemctl restart grafana-server
  changed "restarted grafana-server"
fi
ready() { curl -sf --max-time 2 "http://$MON_IP:$GRAFANA_PORT/api/health" >/dev/null; }
wait_until 120 2 "Grafana to answer" ready \
  || { journalctl -u grafana-server -n 30 --no-pager >&2 || true; die "Grafana does not answer"; }
# grafana.ini's admin_password applies only when the database is created: a changed password is
# set through the CLI (from stdin, never on a command line).
if [ "$first_start" -eq 0 ] && file_changed /etc/grafana/admin-password; then
  secret grafana_admin_password | grafana-cli --homepath /usr/share/grafana --config /etc/grafana/grafana.ini \
    admin reset-admin-password --password-from-stdin >/dev/null
  changed "reset the Grafana admin password"
fi
