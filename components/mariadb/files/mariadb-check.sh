#!/usr/bin/env bash
# platform-mariadb-check: the router's health check of this MariaDB node, one HTTP exchange per
# connection (platform-mariadb-check.socket, Accept=yes). 200 only when the node can take writes:
# with Galera, ready, Synced (state 4) and in the Primary component; always, not read-only.
# It asks MariaDB over the local socket as the unix_socket user platform-mariadb-check (no
# privileges: SHOW only). GALERA (0/1) comes from /etc/default/platform-mariadb-check.
# GET /galera answers the peers' recovery agents (mariadb-recover) with one line: "primary <state>"
# (in the Primary component), "nonprimary", "recovered <uuid>:<seqno>" (mariadbd stopped, its last
# committed position recovered after an outage) or "down".
set -euo pipefail

SOCKET=${SOCKET:-/run/mysqld/mysqld.sock}
GALERA=${GALERA:-0}
RECOVERED=${RECOVERED:-/run/platform-mariadb/position}

reply() {
  local code=$1 text=$2 body=$3
  printf 'HTTP/1.1 %s %s\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: %s\r\n\r\n%s' \
    "$code" "$text" "$(( ${#body} + 1 ))" "$body"
  printf '\n'
}

# Read the whole request (up to its blank line; bounded so that a silent client does not hold us):
# closing with unread bytes makes the kernel reset the connection, and HAProxy then reports
# "Connection reset by peer" instead of reading the answer (seen on the lab).
path=/
for i in $(seq 1 64); do
  IFS= read -r -t 2 line || break
  line=${line%$'\r'}
  [ -n "$line" ] || break
  if [ "$i" = 1 ]; then read -r _ path _ <<<"$line" || true; fi
done

if [ "$path" = /galera ]; then
  if st=$(timeout 3 mariadb --protocol=socket -S "$SOCKET" -N -B -e \
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_status', 'wsrep_local_state_comment')" 2>/dev/null); then
    if [ "$(awk 'tolower($1) == "wsrep_cluster_status" {print $2}' <<<"$st")" = Primary ]; then
      reply 200 OK "primary $(awk 'tolower($1) == "wsrep_local_state_comment" {print $2}' <<<"$st")"
    else
      reply 200 OK nonprimary
    fi
  elif [ -s "$RECOVERED" ] && [[ $(systemctl show -p ActiveState --value mariadb) =~ ^(inactive|failed)$ ]]; then
    reply 200 OK "recovered $(head -n1 "$RECOVERED")"
  else
    reply 200 OK down
  fi
  exit 0
fi

if ! status=$(timeout 3 mariadb --protocol=socket -S "$SOCKET" -N -B -e \
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state', 'wsrep_cluster_status'); SHOW GLOBAL VARIABLES LIKE 'read_only'" 2>&1); then
  reply 503 "Service Unavailable" "mariadb: ${status//$'\n'/ }"
  exit 0
fi
value() { awk -v k="$1" 'tolower($1) == k {print $2}' <<<"$status"; }
summary="read_only=$(value read_only)"
ok=1
[ "$(value read_only)" = OFF ] || ok=0
if [ "$GALERA" = 1 ]; then
  summary="$summary wsrep_ready=$(value wsrep_ready) wsrep_local_state=$(value wsrep_local_state) wsrep_cluster_status=$(value wsrep_cluster_status)"
  [ "$(value wsrep_ready)" = ON ] || ok=0
  [ "$(value wsrep_local_state)" = 4 ] || ok=0
  [ "$(value wsrep_cluster_status)" = Primary ] || ok=0
fi
if [ "$ok" = 1 ]; then
  reply 200 OK "writable: $summary"
else
  reply 503 "Service Unavailable" "not writable: $summary"
fi
