#!/usr/bin/env bash
# HostBaseline: identity, name resolution, time, security updates, kernel basics, node_exporter.
# Params: HOST_NAME. Files: hosts.block, 60-platform.conf, 20auto-upgrades,
# 51platform-unattended, node-exporter.default.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

# The platform connects as a non-root user with sudo; root logins are not part of the contract.
if [ -z "${SUDO_USER:-}" ] || [ "$SUDO_USER" = root ]; then
  die "connect as a non-root deploy user with passwordless sudo (ssh.user), not as root"
fi

# Identity.
if [ "$(cat /etc/hostname 2>/dev/null || true)" != "$HOST_NAME" ]; then
  printf '%s\n' "$HOST_NAME" >/etc/hostname
  changed "/etc/hostname"
fi
if [ "$(hostname)" != "$HOST_NAME" ]; then
  hostname "$HOST_NAME"
  changed "hostname"
fi

# /etc/hosts: replace only the platform's marked block, keep everything else.
tmp=$(mktemp "$STEP_DIR/hosts.XXXXXX")
{
  perl -ne 'print unless /^# BEGIN platform hosts$/ .. /^# END platform hosts$/' /etc/hosts
  echo "# BEGIN platform hosts"
  bundled hosts.block
  echo "# END platform hosts"
} >"$tmp"
put_content "$tmp" /etc/hosts 0644 root:root

ensure_packages ca-certificates curl nftables unattended-upgrades prometheus-node-exporter chrony

# Time: a container shares its host's clock and may not set it (chrony skips itself there).
if systemd-detect-virt --container --quiet; then
  log "container: the clock is the host's; chrony is not started here"
else
  ensure_enabled chrony
fi

put 20auto-upgrades /etc/apt/apt.conf.d/20auto-upgrades 0644 root:root
put 51platform-unattended /etc/apt/apt.conf.d/51platform-unattended 0644 root:root

ensure_sysctl_file 60-platform.conf

put node-exporter.default /etc/default/prometheus-node-exporter 0644 root:root
ensure_enabled prometheus-node-exporter
restart_if_changed prometheus-node-exporter /etc/default/prometheus-node-exporter
