#!/usr/bin/env bash
# The HAProxy router on an edge VM: PostgreSQL primary/replica listeners (and the Redis section
# when the Redis component adds one). Files: haproxy.cfg, haproxy.default, platform-ca.pem.
# A changed configuration is validated first and then reloaded (running sessions survive).
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages haproxy

put platform-ca.pem /etc/haproxy/platform-ca.pem 0644 root:root
put haproxy.default /etc/default/haproxy 0644 root:root

tmp=$(mktemp "$STEP_DIR/haproxy.XXXXXX")
bundled haproxy.cfg >"$tmp"
# shellcheck disable=SC1091
( set -a; . /etc/default/haproxy; haproxy -c -q -f "$tmp" ) || die "haproxy rejected the rendered configuration"
# 0640: the Redis health check authenticates, so the file may hold a password.
put_content "$tmp" /etc/haproxy/haproxy.cfg 0640 root:haproxy

ensure_enabled haproxy
if file_changed /etc/default/haproxy; then
  # The environment (stats address) is read at process start only.
  systemctl restart haproxy
  changed "restarted haproxy"
elif file_changed /etc/haproxy/haproxy.cfg /etc/haproxy/platform-ca.pem; then
  systemctl reload haproxy
  changed "reloaded haproxy"
fi
