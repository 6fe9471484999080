#!/usr/bin/env bash
# MonitoringHost: systemd-journal-remote receives every VM's journal over HTTPS (client
# certificates of the platform CA), and a timer caps its disk use. Files: journal-remote.conf,
# ca.crt, host.crt, journal-maintain, journal-maintain.env, platform-journal-maintain.{service,timer}.
# Secrets: host_key.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages systemd-journal-remote

TLS=/etc/systemd/platform-journal-remote
install -d -m 0750 -o root -g systemd-journal-remote "$TLS"
put ca.crt "$TLS/ca.crt" 0644 root:root
put host.crt "$TLS/host.crt" 0644 root:root
install_secret host_key "$TLS/host.key" 0640 root:systemd-journal-remote
put journal-remote.conf /etc/systemd/journal-remote.conf 0644 root:root
install -d -m 0755 -o systemd-journal-remote -g systemd-journal-remote /var/log/journal/remote

ensure_enabled systemd-journal-remote.socket
if file_changed /etc/systemd/journal-remote.conf "$TLS/ca.crt" "$TLS/host.crt" "$TLS/host.key"; then
  # Socket-activated: a running instance keeps its old settings until it restarts.
  if systemctl is-active --quiet systemd-journal-remote.service; then
    systemctl restart systemd-journal-remote.service
    changed "restarted systemd-journal-remote"
  fi
fi

put journal-maintain /usr/local/lib/platform-monitoring/journal-maintain 0755 root:root
put journal-maintain.env /etc/default/platform-journal-maintain 0644 root:root
install_timer platform-journal-maintain
