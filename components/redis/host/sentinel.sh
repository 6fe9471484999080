#!/usr/bin/env bash
# RedisSentinelCluster, every Redis VM: Redis Sentinel. Sentinel rewrites its config file with
# its state (current master, epochs, known replicas and Sentinels, its id). A changed *rendered*
# configuration (tracked by hash) is installed with that state carried over, so a re-run never
# makes a Sentinel forget a failover. Params: MASTER_NAME, SENTINEL_PORT, TLS (0/1).
# Files: redis-lib.sh, sentinel.conf (with {{secret:...}}), sentinel-dropin.conf, sentinel-merge.pl; with TLS: tls-ca.crt,
# tls-redis.crt, tls-redis.key.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"
# shellcheck source=components/redis/host/redis_lib.sh
. "$STEP_DIR/files/redis-lib.sh"

ensure_packages redis-sentinel redis-tools
require_redis7 redis-sentinel
redis_dirs

put sentinel-dropin.conf /etc/systemd/system/redis-sentinel.service.d/platform.conf 0644 root:root
if file_changed /etc/systemd/system/redis-sentinel.service.d/platform.conf; then systemctl daemon-reload; fi

restart=0
install_redis_tls

live=/etc/redis/sentinel.conf
rendered=$(mktemp "$STEP_DIR/sentinel.conf.XXXXXX")
bundled sentinel.conf >"$rendered"
new_hash=$(sha256sum <"$rendered" | cut -d' ' -f1)
old_hash=$(cat "$STATE/sentinel.conf.sha256" 2>/dev/null || true)
if [ "$new_hash" != "$old_hash" ] || ! grep -q '^# Rendered by the platform program' "$live" 2>/dev/null; then
  merged=$(mktemp "$STEP_DIR/sentinel.merged.XXXXXX")
  if grep -q '^# Rendered by the platform program' "$live" 2>/dev/null; then
    # Ours already: keep the master Sentinel knows now, its id and the epochs/topology it learned.
    perl "$STEP_DIR/files/sentinel-merge.pl" "$MASTER_NAME" "$rendered" "$live" >"$merged"
  else
    # First install: the packaged file (or a foreign one) holds nothing worth keeping; its id
    # might even be a cloned image's, which would make Sentinels ignore each other.
    cp "$rendered" "$merged"
  fi
  install -m 0640 -o redis -g redis "$merged" "$live"
  printf '%s\n' "$new_hash" >"$STATE/sentinel.conf.sha256"
  changed "$live"
  restart=1
fi
ensure_perms "$live" 0640 redis:redis

ensure_service redis-sentinel "$restart"

knows_master() {
  master=$(local_cli "$SENTINEL_PORT" SENTINEL GET-MASTER-ADDR-BY-NAME "$MASTER_NAME" 2>/dev/null | paste -sd: || true)
  [[ $master == *:* ]]
}
master=""
wait_until 30 1 "Sentinel to know master $MASTER_NAME" knows_master \
  || die "redis-sentinel does not know master $MASTER_NAME after 30 s (journalctl -u redis-sentinel)"
log "Sentinel monitors $MASTER_NAME at $master"
