#!/usr/bin/env bash
# MonitoringHost, logs on real VMs (monitoring.loki.enabled): Loki (single binary) and Grafana Alloy
# from Grafana's apt repository; Alloy reads the journals systemd-journal-remote received (and this
# VM's own) and pushes them to Loki. Params: MON_IP, LOKI_PORT, ALLOY_PORT. Files: grafana-apt.sh,
# loki.yml (S3 keys as placeholders with monitoring.loki.storage s3), config.alloy, alloy.default,
# s3-ca.crt (optional). Secrets: s3_access_key, s3_secret_key (s3 storage only).
# Not run on the lab (no Loki or Alloy package here): its configs are checked statically.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"
# shellcheck source=components/monitoring/host/grafana_apt.sh
. "$STEP_DIR/files/grafana-apt.sh"

grafana_apt_repo
ensure_packages loki alloy

# --- Loki: the package's unit runs `loki -config.file /etc/loki/config.yml` as user loki ---
install -d -m 0750 -o loki -g loki /var/lib/loki
if [ -f "$STEP_DIR/files/s3-ca.crt" ]; then
  put s3-ca.crt /etc/loki/s3-ca.crt 0644 root:root
fi
# With S3 storage the key pair is in this file: readable by Loki only.
put loki.yml /etc/loki/config.yml 0640 root:loki
ensure_enabled loki
if file_changed /etc/loki/config.yml /etc/loki/s3-ca.crt; then
  systemctl restart loki
  changed "restarted loki"
fi
loki_ready() { curl -sf --max-time 2 "http://$MON_IP:$LOKI_PORT/ready" >/dev/null; }
wait_until 120 2 "Loki to be ready" loki_ready \
  || { journalctl -u loki -n 30 --no-pager >&2 || true; die "Loki is not ready"; }

# --- Alloy: reads journals as a member of systemd-journal (the package adds it; the received
# journals carry that group's read ACL like the local ones) ---
restart_alloy=0
if ! id -nG alloy | tr ' ' '\n' | grep -qx systemd-journal; then
  usermod -a -G systemd-journal alloy
  changed "added alloy to systemd-journal"
  restart_alloy=1  # a running process keeps its groups
fi
put config.alloy /etc/alloy/config.alloy 0640 root:alloy
put alloy.default /etc/default/alloy 0644 root:root
ensure_enabled alloy
if file_changed /etc/default/alloy || [ "$restart_alloy" -eq 1 ]; then
  systemctl restart alloy
  changed "restarted alloy"
elif file_changed /etc/alloy/config.alloy; then
  systemctl reload alloy
  changed "reloaded alloy"
fi
alloy_ready() { curl -sf --max-time 2 "http://$MON_IP:$ALLOY_PORT/-/ready" >/dev/null; }
wait_until 120 2 "Alloy to be ready" alloy_ready \
  || { journalctl -u alloy -n 30 --no-pager >&2 || true; die "Alloy is not ready"; }
# Alloy reports a journal it cannot read only as an unhealthy component: fail the step instead.
probe=$(find /var/log/journal/remote -name '*.journal' -print -quit 2>/dev/null || true)
runuser -u alloy -- test -r "${probe:-/var/log/journal/remote}" \
  || die "user alloy cannot read the received journals in /var/log/journal/remote"
