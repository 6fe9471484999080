#!/usr/bin/env bash
# platform-mariadb-recover: brings a Galera cluster back after every data node lost power at once
# (run every few seconds by platform-mariadb-recover.timer on each data node).
#
# After such an outage no node is in a Primary component and none can become one by itself
# (pc.recovery is off: the arbitrator keeps no state, and a surviving garbd's stale view makes the
# restored component abort with "Group requested repl_proto_ver: 127", upstream
# mariadb-corporation/galera#671). What an operator would do by hand, done only when it is safe:
#   1. a peer is in the Primary component -> start this node if it is down (it joins: IST or SST);
#   2. no node is Primary for GRACE_S -> stop this node's looping start, recover its last committed
#      position (`galera_recovery`, i.e. mariadbd --wsrep-recover) and publish it on the health
#      check (GET /galera, "recovered <uuid>:<seqno>");
#   3. every data node has published a position of the same cluster -> the most advanced one (ties:
#      the first in NODES) bootstraps the cluster, the others join it in step 1.
# A data node that does not answer (its VM is gone) means no automatic bootstrap: the cluster waits
# for an operator (README "MariaDB runbook"), because that node may hold the newest commits.
# An operator's `systemctl stop mariadb` (or disable) is left alone: only a failed or restarting
# unit, or one this script stopped itself, is acted on.
#
# `mariadb-recover decide SELF ADDR=UUID:SEQNO...` prints the decision for a set of positions
# (bootstrap / wait: reason); the unit tests call it.
set -euo pipefail

RUN=/run/platform-mariadb
GRACE_S=${GRACE_S:-15}
NODES=${NODES:-}          # every data node's address, in the configured order
SELF=${SELF:-}            # this node's address
CHECK_PORT=${CHECK_PORT:-9200}
GRASTATE=${GRASTATE:-/var/lib/mysql/grastate.dat}
ZERO_UUID=00000000-0000-0000-0000-000000000000

log() { printf '%s\n' "$*" >&2; }

# decide SELF ADDR=UUID:SEQNO... -> "bootstrap" or "wait: why" (NODES: every data node, in order)
decide() {
  local self=$1; shift
  local -A pos=()
  local kv a uuid="" best="" best_seqno=-2 seqno
  for kv in "$@"; do pos[${kv%%=*}]=${kv#*=}; done
  for a in $NODES; do
    [ -n "${pos[$a]:-}" ] || { echo "wait: no position from $a"; return 0; }
    if [[ ! ${pos[$a]} =~ ^([0-9a-f-]{36}):(-?[0-9]+)$ ]]; then
      echo "wait: $a reports '${pos[$a]}'"; return 0
    fi
    [ "${BASH_REMATCH[1]}" != "$ZERO_UUID" ] || { echo "wait: $a was never in a cluster"; return 0; }
    seqno=${BASH_REMATCH[2]}
    [ "$seqno" -ge 0 ] || { echo "wait: $a could not recover its position"; return 0; }
    if [ -z "$uuid" ]; then uuid=${BASH_REMATCH[1]}
    elif [ "${BASH_REMATCH[1]}" != "$uuid" ]; then echo "wait: $a is in another cluster (${BASH_REMATCH[1]})"; return 0
    fi
    # Strictly greater: on a tie the first node in NODES keeps it.
    if [ "$seqno" -gt "$best_seqno" ]; then best=$a; best_seqno=$seqno; fi
  done
  [ -n "$best" ] || { echo "wait: no data nodes"; return 0; }
  if [ "$best" = "$self" ]; then echo bootstrap; else echo "wait: $best is the most advanced (seqno $best_seqno)"; fi
}

if [ "${1:-}" = decide ]; then
  shift
  decide "$@"
  exit 0
fi

if [ -z "$NODES" ] || [ -z "$SELF" ]; then
  log "NODES and SELF must be set (/etc/default/platform-mariadb-recover)"
  exit 1
fi
install -d -m 0755 "$RUN"

sql() { timeout 5 mariadb --protocol=socket -N -B -e "$1" 2>/dev/null; }
local_primary() { [ "$(sql "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_status'" | awk '{print $2}')" = Primary ]; }
peer_state() { curl -fsS --max-time 2 "http://$1:$CHECK_PORT/galera" 2>/dev/null || echo unknown; }
note() {  # log a waiting reason once, not every tick
  [ "$(cat "$RUN/recover.note" 2>/dev/null || true)" = "$1" ] || { log "$1"; printf '%s\n' "$1" >"$RUN/recover.note"; }
}
clear_state() { rm -f "$RUN/position" "$RUN/no-primary-since" "$RUN/recover.note" "$RUN/recovering"; }

state=$(systemctl show -p ActiveState --value mariadb)
if [ "$state" = active ] && local_primary; then
  clear_state
  exit 0
fi
# Hands off what an operator stopped or disabled.
if ! systemctl is-enabled --quiet mariadb; then exit 0; fi
if [ "$state" = inactive ] && [ ! -e "$RUN/recovering" ]; then exit 0; fi

peers_primary=""
declare -a positions=()
for a in $NODES; do
  [ "$a" != "$SELF" ] || continue
  s=$(peer_state "$a")
  case "$s" in
    primary*) peers_primary="$peers_primary $a" ;;
    recovered\ *) positions+=("$a=${s#recovered }") ;;
  esac
done

if [ -n "$peers_primary" ]; then
  # Step 1: a cluster exists; a node that is down joins it (a restarting one does so by itself).
  if [ "$state" = inactive ] || [ "$state" = failed ]; then
    log "joining the cluster (Primary on${peers_primary})"
    rm -f "$RUN/position"
    systemctl reset-failed mariadb 2>/dev/null || true
    systemctl start --no-block mariadb
  fi
  rm -f "$RUN/no-primary-since" "$RUN/recover.note" "$RUN/recovering"
  exit 0
fi

# A running node outside the Primary component (cut off from its peers) rejoins by itself when the
# network heals; only a start that cannot finish (no Primary to join) is stopped below.
if [ "$state" = active ]; then
  rm -f "$RUN/no-primary-since"
  exit 0
fi

# A start in progress (InnoDB recovery, waiting for peers) gets GRACE_S before it is called stuck.
now=$(date +%s)
since=$(cat "$RUN/no-primary-since" 2>/dev/null || true)
if [ -z "$since" ]; then printf '%s\n' "$now" >"$RUN/no-primary-since"; exit 0; fi
[ $((now - since)) -ge "$GRACE_S" ] || exit 0

# Step 2: this node's position, with mariadbd stopped (it cannot run while the server holds InnoDB).
if [ ! -s "$RUN/position" ]; then
  touch "$RUN/recovering"
  if [ "$state" != inactive ]; then
    log "no Primary component anywhere for ${GRACE_S}s: stopping the start loop to recover this node's position"
    systemctl stop mariadb
  fi
  if ! out=$(/usr/bin/galera_recovery 2>&1); then
    note "position recovery failed: ${out//$'\n'/ }"
    exit 1
  fi
  p=$(sed -nE 's/.*--wsrep_start_position=([0-9a-f-]{36}:-?[0-9]+).*/\1/p' <<<"$out" | tail -n1)
  [ -n "$p" ] || { note "no position in galera_recovery's output: ${out//$'\n'/ }"; exit 1; }
  tmp=$(mktemp "$RUN/position.XXXXXX")
  printf '%s\n' "$p" >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$RUN/position"
  log "recovered position $p; published on :$CHECK_PORT/galera"
fi
mine=$(cat "$RUN/position")

# Step 3: bootstrap only from complete information.
decision=$(decide "$SELF" "$SELF=$mine" "${positions[@]}")
if [ "$decision" != bootstrap ]; then
  note "no Primary component; $decision"
  exit 0
fi
log "every data node's position is known and this node's ($mine) is the most advanced: bootstrapping the cluster"
sed -i -E 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$GRASTATE"
rm -f "$RUN/position" "$RUN/no-primary-since" "$RUN/recover.note"
if galera_new_cluster; then
  rm -f "$RUN/recovering"
  log "bootstrapped the cluster from this node"
else
  log "galera_new_cluster failed (journalctl -u mariadb)"
  exit 1
fi
