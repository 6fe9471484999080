#!/usr/bin/env bash
# Every VM: systemd-journal-upload ships the journal to the monitoring VM over HTTPS with this
# host's certificate (the monitoring VM's is verified against the platform CA). Files:
# journal-upload.conf, journal-upload.dropin, ca.crt, host.crt, platform-journal-heartbeat.{service,timer}
# (an entry every 2 minutes: a quiet VM still sends). Secrets: host_key.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages systemd-journal-remote  # ships systemd-journal-upload too

TLS=/etc/systemd/platform-journal-upload
install -d -m 0750 -o root -g systemd-journal "$TLS"
put ca.crt "$TLS/ca.crt" 0644 root:root
put host.crt "$TLS/host.crt" 0644 root:root
# The service runs as a dynamic user in the systemd-journal group.
install_secret host_key "$TLS/host.key" 0640 root:systemd-journal
put journal-upload.conf /etc/systemd/journal-upload.conf 0644 root:root
put journal-upload.dropin /etc/systemd/system/systemd-journal-upload.service.d/platform.conf 0644 root:root
if file_changed /etc/systemd/system/systemd-journal-upload.service.d/platform.conf; then
  systemctl daemon-reload
fi
ensure_enabled systemd-journal-upload
restart_if_changed systemd-journal-upload /etc/systemd/journal-upload.conf "$TLS/ca.crt" "$TLS/host.crt" "$TLS/host.key" \
  /etc/systemd/system/systemd-journal-upload.service.d/platform.conf

install_timer platform-journal-heartbeat
