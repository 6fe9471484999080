# shellcheck shell=bash
# What the redis and sentinel steps share (bundled as files/redis-lib.sh, sourced after lib.sh):
# the Redis 7 requirement, the state and configuration directories, the TLS material, and how
# redis-cli reaches a local instance. Expects TLS (0/1) from the step's parameters.

# require_redis7 BINARY - Redis 7 is required (ACL subcommand rules, multi-directory AOF, Sentinel
# options): Debian 12 and Ubuntu 24.04 ship 7.0; Ubuntu 22.04 ships 6.0 and needs Redis 7 from elsewhere.
require_redis7() {
  local v
  v=$("$1" --version | sed -nE 's/.* v=([0-9]+)\..*/\1/p')
  [ "${v:-0}" -ge 7 ] || die "Redis 7 is required; this host's package is $("$1" --version)"
}

STATE=/var/lib/platform-redis

# redis_dirs - the step's state directory; /etc/redis and its files belong to redis, because Redis
# and Sentinel rewrite their own files.
redis_dirs() {
  install -d -m 0700 -o root -g root "$STATE"
  if [ "$(stat -c '%a %U:%G' /etc/redis)" != "2770 redis:redis" ]; then
    chown redis:redis /etc/redis && chmod 2770 /etc/redis
    changed "/etc/redis permissions"
  fi
}

# install_redis_tls - with redis.tls, the CA, this host's certificate and key; sets the caller's
# restart=1 when any of them changed (the caller restarts its service).
# shellcheck disable=SC2034  # restart belongs to the calling step
install_redis_tls() {
  [ "$TLS" = 1 ] || return 0
  install -d -m 0750 -o redis -g redis /etc/redis/tls
  put tls-ca.crt /etc/redis/tls/ca.crt 0644 redis:redis
  put tls-redis.crt /etc/redis/tls/redis.crt 0644 redis:redis
  put tls-redis.key /etc/redis/tls/redis.key 0600 redis:redis
  if file_changed /etc/redis/tls/ca.crt /etc/redis/tls/redis.crt /etc/redis/tls/redis.key; then
    restart=1
  fi
}

# local_cli PORT ARGS... - redis-cli against 127.0.0.1:PORT (TLS with redis.tls), bounded to 3 s.
local_cli() {
  local port=$1
  shift
  local -a tls=()
  [ "$TLS" = 1 ] && tls=(--tls --cacert /etc/redis/tls/ca.crt)
  timeout 3 redis-cli "${tls[@]}" --no-auth-warning -h 127.0.0.1 -p "$port" "$@"
}
