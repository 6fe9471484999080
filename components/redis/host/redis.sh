#!/usr/bin/env bash
# RedisSentinelCluster, data node: packages, kernel settings, redis.conf, the start-up guard
# (no stale master) and the service. Never restarts Redis unless its configuration changed.
# Params: MASTER_NAME, REDIS_PORT, TLS (0/1).
# Files: redis-lib.sh, redis.conf (with {{secret:...}}), guard.env, redis-guard, redis-dropin.conf,
# 61-platform-redis.conf, platform-redis-thp.service; with TLS: tls-ca.crt, tls-redis.crt, tls-redis.key.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"
# shellcheck source=components/redis/host/redis_lib.sh
. "$STEP_DIR/files/redis-lib.sh"

ensure_packages redis-server redis-sentinel redis-tools prometheus-redis-exporter
require_redis7 redis-server
redis_dirs
install -d -m 0750 -o root -g redis /etc/redis/platform

# --- kernel settings: optimisations, reported (not fatal) where the host does not allow them ---
ensure_sysctl_file 61-platform-redis.conf
put platform-redis-thp.service /etc/systemd/system/platform-redis-thp.service 0644 root:root
thp=/sys/kernel/mm/transparent_hugepage/enabled
if [ -w "$thp" ] && ! grep -q '\[never\]' "$thp"; then
  if echo never >"$thp" 2>/dev/null; then changed "transparent huge pages: never"; fi
fi
overcommit=$(sysctl -n vm.overcommit_memory 2>/dev/null || echo unknown)
thp_now=$(sed -nE 's/.*\[(.*)\].*/\1/p' "$thp" 2>/dev/null || true)
[ "$overcommit" = 1 ] || log "WARNING: vm.overcommit_memory is $overcommit here (read-only?); Redis forks may fail under memory pressure"
[ "${thp_now:-never}" = never ] || log "WARNING: transparent huge pages are '$thp_now' here (read-only?); Redis warns about latency and memory use"
report=$(mktemp "$STEP_DIR/kernel.XXXXXX")
printf 'vm.overcommit_memory=%s\ntransparent_hugepage=%s\n' "$overcommit" "${thp_now:-absent}" >"$report"
put_content "$report" "$STATE/kernel-report" 0644 root:root

# --- the start-up guard -------------------------------------------------------------------------
put redis-guard /usr/local/lib/platform-redis/redis-guard 0755 root:root
put guard.env /etc/redis/platform/guard.env 0644 root:root
put redis-dropin.conf /etc/systemd/system/redis-server.service.d/platform.conf 0644 root:root
if file_changed /etc/systemd/system/redis-server.service.d/platform.conf \
               /etc/systemd/system/platform-redis-thp.service; then
  systemctl daemon-reload
fi
if ! systemctl is-enabled --quiet platform-redis-thp.service 2>/dev/null; then
  systemctl enable --quiet platform-redis-thp.service
  changed "enabled platform-redis-thp"
fi

# --- TLS material (redis.tls) ---------------------------------------------------------------------
restart=0
install_redis_tls

# --- redis.conf: Redis rewrites the live file (CONFIG REWRITE), so it is (re)written only when
# the *rendered* version changed (tracked by hash); the guard owns the `replicaof` line. ---------
rendered=$(mktemp "$STEP_DIR/redis.conf.XXXXXX")
bundled redis.conf >"$rendered"
new_hash=$(sha256sum <"$rendered" | cut -d' ' -f1)
old_hash=$(cat "$STATE/redis.conf.sha256" 2>/dev/null || true)
if [ "$new_hash" != "$old_hash" ] || ! grep -q '^# Rendered by the platform program' /etc/redis/redis.conf 2>/dev/null; then
  install -m 0640 -o redis -g redis "$rendered" /etc/redis/redis.conf
  printf '%s\n' "$new_hash" >"$STATE/redis.conf.sha256"
  changed "/etc/redis/redis.conf"
  restart=1
fi
ensure_perms /etc/redis/redis.conf 0640 redis:redis

# On (re)start the guard (ExecStartPre) decides master or replica from the Sentinels.
ensure_service redis-server "$restart"

# Ready: answers with data loaded (bounded; a large AOF takes time to load).
REDISCLI_AUTH=$(secret redis_password)
export REDISCLI_AUTH
pongs() { [ "$(local_cli "$REDIS_PORT" PING 2>/dev/null || true)" = PONG ]; }
wait_until 120 1 "redis-server to answer PING" pongs || die "redis-server did not answer PING within 120 s (journalctl -u redis-server)"
role=$(local_cli "$REDIS_PORT" ROLE | awk 'NR == 1')
log "redis-server is up as $role (Sentinel master name $MASTER_NAME)"
