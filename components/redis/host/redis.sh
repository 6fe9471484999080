#!/usr/bin/env bash
# RedisSentinelCluster, data node: packages, kernel settings, redis.conf, the start-up guard
# (no stale master) and the service. Never restarts Redis unless its configuration changed.
# Params: MASTER_NAME, REDIS_PORT, TLS (0/1).
# Files: redis.conf (with {{secret:...}}), guard.env, redis-guard, redis-dropin.conf,
# 61-platform-redis.conf, platform-redis-thp.service; with TLS: tls-ca.crt, tls-redis.crt, tls-redis.key.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages redis-server redis-sentinel redis-tools prometheus-redis-exporter

# Redis 7 is required (ACL subcommand rules, multi-directory AOF, Sentinel options): Debian 12 and
# Ubuntu 24.04 ship 7.0; Ubuntu 22.04 ships 6.0 and needs Redis 7 from elsewhere.
redis_version=$(redis-server --version | sed -nE 's/.* v=([0-9]+)\..*/\1/p')
[ "${redis_version:-0}" -ge 7 ] || die "Redis 7 is required; this host's package is $(redis-server --version)"

STATE=/var/lib/platform-redis
install -d -m 0700 -o root -g root "$STATE"

# Redis and Sentinel rewrite their own files: /etc/redis and the files in it belong to redis.
if [ "$(stat -c '%a %U:%G' /etc/redis)" != "2770 redis:redis" ]; then
  chown redis:redis /etc/redis && chmod 2770 /etc/redis
  changed "/etc/redis permissions"
fi
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
if [ "$TLS" = 1 ]; then
  install -d -m 0750 -o redis -g redis /etc/redis/tls
  put tls-ca.crt /etc/redis/tls/ca.crt 0644 redis:redis
  put tls-redis.crt /etc/redis/tls/redis.crt 0644 redis:redis
  put tls-redis.key /etc/redis/tls/redis.key 0600 redis:redis
  if file_changed /etc/redis/tls/ca.crt /etc/redis/tls/redis.crt /etc/redis/tls/redis.key; then restart=1; fi
fi

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
tls_args=()
[ "$TLS" = 1 ] && tls_args=(--tls --cacert /etc/redis/tls/ca.crt)
for _ in $(seq 1 120); do
  pong=$(timeout 3 redis-cli "${tls_args[@]}" --no-auth-warning -h 127.0.0.1 -p "$REDIS_PORT" PING 2>/dev/null || true)
  [ "$pong" = PONG ] && break
  sleep 1
done
[ "${pong:-}" = PONG ] || die "redis-server did not answer PING within 120 s (journalctl -u redis-server)"
role=$(timeout 3 redis-cli "${tls_args[@]}" --no-auth-warning -h 127.0.0.1 -p "$REDIS_PORT" ROLE | awk 'NR == 1')
log "redis-server is up as $role (Sentinel master name $MASTER_NAME)"
