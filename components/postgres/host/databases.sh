#!/usr/bin/env bash
# Databases and roles on the current primary: one database + owner role per app, the monitoring
# (pg_monitor), backup and PgBouncer auth roles, and PgBouncer's lookup function in every app
# database. Idempotent: creates what is missing, sets a password only when logging in with it fails
# or its stored verifier uses another iteration count than wanted (APP_SCRAM_ITERATIONS for app
# roles, SCRAM_ITERATIONS for the platform's own). Passwords reach PostgreSQL only as SCRAM
# verifiers computed here (scram_verifier.py), never in plain text.
# Params: HOST_IP, API_PORT, PG_PORT, SCRAM_ITERATIONS, APP_SCRAM_ITERATIONS. Files: roles.tsv, databases.tsv, appdb.sql,
# scram_verifier.py. Secrets: one per role, pg_superuser_password.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

TLS=/etc/patroni/tls
cd /
pgpass=$(mktemp "$STEP_DIR/pgpass.XXXXXX")
chmod 0600 "$pgpass"

# Where is the primary? Normally here; after a failover, the other node (reached over TLS).
in_recovery=$(runuser -u postgres -- psql -h /var/run/postgresql -XAtqc 'SELECT pg_is_in_recovery()' postgres)
if [ "$in_recovery" = f ]; then
  target=127.0.0.1
  sslmode=disable
  sql() { local db=$1; shift; runuser -u postgres -- psql -h /var/run/postgresql -d "$db" -XAtq -v ON_ERROR_STOP=1 "$@"; }
else
  target=$(curl -sf --max-time 5 --cacert "$TLS/ca.crt" "https://$HOST_IP:$API_PORT/cluster" \
    | python3 -c 'import json,sys; print(next(m["host"] for m in json.load(sys.stdin)["members"] if m["role"] == "leader"))') \
    || die "no leader in the Patroni cluster"
  sslmode=verify-ca
  printf '%s:%s:*:postgres:%s\n' "$target" "$PG_PORT" "$(secret pg_superuser_password)" >"$pgpass"
  sql() { local db=$1; shift; PGPASSFILE=$pgpass psql \
    "host=$target port=$PG_PORT user=postgres dbname=$db sslmode=$sslmode sslrootcert=$TLS/ca.crt" -XAtq -v ON_ERROR_STOP=1 "$@"; }
  log "this node is a replica; managing databases on the primary $target"
fi

# can_login ROLE SECRET: the role exists and its password is the wanted one.
can_login() {
  local check
  check=$(mktemp "$STEP_DIR/pgpass.XXXXXX")
  printf '%s:%s:postgres:%s:%s\n' "$target" "$PG_PORT" "$1" "$(secret "$2")" >"$check"
  PGPASSFILE=$check psql "host=$target port=$PG_PORT user=$1 dbname=postgres sslmode=$sslmode sslrootcert=$TLS/ca.crt connect_timeout=5" \
    -XAtqc 'SELECT 1' >/dev/null 2>&1
}

# iterations_of ROLE: the iteration count of the role's stored SCRAM verifier (empty if none).
iterations_of() {
  sql postgres -c "SELECT CASE WHEN rolpassword LIKE 'SCRAM-SHA-256\$%' THEN split_part(split_part(rolpassword, '\$', 2), ':', 1) END FROM pg_authid WHERE rolname = '$1'"
}

while IFS=$'\t' read -r role secret_name kind; do
  [ -n "$role" ] || continue
  exists=$(sql postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")
  if [ "$exists" != 1 ]; then
    sql postgres -c "CREATE ROLE \"$role\" LOGIN"
    changed "role $role"
  fi
  iterations=$SCRAM_ITERATIONS
  [ "$kind" = app ] && iterations=$APP_SCRAM_ITERATIONS
  if ! can_login "$role" "$secret_name" || [ "$(iterations_of "$role")" != "$iterations" ]; then
    verifier=$(secret "$secret_name" | python3 "$STEP_DIR/files/scram_verifier.py" "$iterations")
    # The statement (with the verifier) goes through stdin, never a command line.
    printf "ALTER ROLE \"%s\" WITH LOGIN PASSWORD '%s';\n" "$role" "$verifier" | sql postgres -f -
    can_login "$role" "$secret_name" || die "role $role cannot log in with its new password"
    changed "password of $role"
  fi
  case "$kind" in
    monitoring) sql postgres -c "GRANT pg_monitor TO \"$role\"" 2>/dev/null ;;
    backup) sql postgres -c "GRANT pg_read_all_data, pg_checkpoint TO \"$role\"" 2>/dev/null ;;
  esac
done <"$STEP_DIR/files/roles.tsv"

while IFS=$'\t' read -r db owner; do
  [ -n "$db" ] || continue
  if [ "$(sql postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    sql postgres -c "CREATE DATABASE \"$db\" OWNER \"$owner\" ENCODING 'UTF8' TEMPLATE template0"
    changed "database $db"
  fi
  # Only the owner (and PgBouncer's lookup role, which runs auth_query inside it) may connect.
  sql postgres -c "REVOKE CONNECT ON DATABASE \"$db\" FROM PUBLIC; GRANT CONNECT ON DATABASE \"$db\" TO \"$owner\", pgbouncer_auth, postgres_exporter"
  out=$(sql "$db" -v db="$db" -f - <"$STEP_DIR/files/appdb.sql")
  while read -r line; do
    case "$line" in platform-changed:*) changed "${line#platform-changed: }" ;; esac
  done <<<"$out"
done <"$STEP_DIR/files/databases.tsv"

# PgBouncer also serves `postgres` (Odoo's bus, components/postgres/render/pgbouncer.py): its
# lookup function must exist there too.
out=$(sql postgres -v db=postgres -f - <"$STEP_DIR/files/appdb.sql")
while read -r line; do
  case "$line" in platform-changed:*) changed "${line#platform-changed: }" ;; esac
done <<<"$out"
