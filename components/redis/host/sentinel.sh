#!/usr/bin/env bash
# RedisSentinelCluster, every Redis VM: Redis Sentinel. Sentinel rewrites its config file with
# its state (current master, epochs, known replicas and Sentinels, its id). A changed *rendered*
# configuration (tracked by hash) is installed with that state carried over, so a re-run never
# makes a Sentinel forget a failover. Params: MASTER_NAME, SENTINEL_PORT, TLS (0/1).
# Files: sentinel.conf (with {{secret:...}}), sentinel-dropin.conf, sentinel-merge.pl; with TLS: tls-ca.crt,
# tls-redis.crt, tls-redis.key.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages redis-sentinel redis-tools

# Redis 7 is required (ACL subcommand rules, multi-directory AOF, Sentinel options): Debian 12 and
# Ubuntu 24.04 ship 7.0; Ubuntu 22.04 ships 6.0 and needs Redis 7 from elsewhere.
redis_version=$(redis-sentinel --version | sed -nE 's/.* v=([0-9]+)\..*/\1/p')
[ "${redis_version:-0}" -ge 7 ] || die "Redis 7 is required; this host's package is $(redis-sentinel --version)"

STATE=/var/lib/platform-redis
install -d -m 0700 -o root -g root "$STATE"
if [ "$(stat -c '%a %U:%G' /etc/redis)" != "2770 redis:redis" ]; then
  chown redis:redis /etc/redis && chmod 2770 /etc/redis
  changed "/etc/redis permissions"
fi

put sentinel-dropin.conf /etc/systemd/system/redis-sentinel.service.d/platform.conf 0644 root:root
if file_changed /etc/systemd/system/redis-sentinel.service.d/platform.conf; then systemctl daemon-reload; fi

restart=0
if [ "$TLS" = 1 ]; then
  install -d -m 0750 -o redis -g redis /etc/redis/tls
  put tls-ca.crt /etc/redis/tls/ca.crt 0644 redis:redis
  put tls-redis.crt /etc/redis/tls/redis.crt 0644 redis:redis
  put tls-redis.key /etc/redis/tls/redis.key 0600 redis:redis
  if file_changed /etc/redis/tls/ca.crt /etc/redis/tls/redis.crt /etc/redis/tls/redis.key; then restart=1; fi
fi

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

tls_args=()
[ "$TLS" = 1 ] && tls_args=(--tls --cacert /etc/redis/tls/ca.crt)
for _ in $(seq 1 30); do
  master=$(timeout 3 redis-cli "${tls_args[@]}" -h 127.0.0.1 -p "$SENTINEL_PORT" SENTINEL GET-MASTER-ADDR-BY-NAME "$MASTER_NAME" 2>/dev/null | paste -sd: || true)
  [[ $master == *:* ]] && break
  sleep 1
done
[[ ${master:-} == *:* ]] || die "redis-sentinel does not know master $MASTER_NAME after 30 s (journalctl -u redis-sentinel)"
log "Sentinel monitors $MASTER_NAME at $master"
