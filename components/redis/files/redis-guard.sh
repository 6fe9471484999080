#!/usr/bin/env bash
# platform-redis-guard: runs before every start of redis-server (ExecStartPre=+ drop-in) and
# decides whether this node starts as master or as a replica, so that a former master never
# comes back writable (DESIGN.md, issue 5: "no stale master, ever").
#
#   1. Ask every Sentinel (bounded timeout each) for the master: `SENTINEL MASTER <name>`.
#      Several answers: the highest config-epoch wins; among equal epochs, the majority.
#   2. If the answer is this node but the Sentinels see it down (s_down/o_down), are failing
#      over, or have had no PING reply from it for nearly down-after-milliseconds (they may
#      fail over before it answers), and a replica exists, wait (bounded) for the failover.
#   3. No Sentinel reachable: the master the local Sentinel last recorded in its config file;
#      failing that, the configured initial master (first boot).
#   4. Write `replicaof <master>` into redis.conf (or remove it when this node is the master).
#
# Parameters: GUARD_ENV (default /etc/redis/platform/guard.env) with MASTER_NAME, SELF_IP,
# SELF_PORT, INITIAL_MASTER (ip:port), SENTINELS ("ip:port ..."), REDIS_CONF,
# LOCAL_SENTINEL_CONF, QUERY_TIMEOUT, FAILOVER_WAIT, CLI_TLS_ARGS.
set -euo pipefail

GUARD_ENV=${GUARD_ENV:-/etc/redis/platform/guard.env}
# shellcheck source=/dev/null
. "$GUARD_ENV"
CLI=${REDIS_CLI:-redis-cli}
SELF="$SELF_IP:$SELF_PORT"

say() { echo "redis-guard: $*" >&2; }

# ask_one HOST:PORT -> "epoch ip:port flags num-slaves last-ok-ping-reply down-after-ms", or nothing.
ask_one() {
  local addr=$1 out
  # shellcheck disable=SC2086  # CLI_TLS_ARGS is a list of options
  out=$(timeout -k 1 "$QUERY_TIMEOUT" "$CLI" $CLI_TLS_ARGS -h "${addr%:*}" -p "${addr##*:}" --raw \
        SENTINEL MASTER "$MASTER_NAME" 2>/dev/null) || return 0
  printf '%s\n' "$out" | awk '
    NR % 2 == 1 { k = $0; next }
    { v[k] = $0 }
    END {
      if (v["ip"] == "" || v["port"] == "") exit
      e = v["config-epoch"]; if (e == "") e = 0
      n = v["num-slaves"]; if (n == "") n = 0
      f = v["flags"]; if (f == "") f = "-"
      l = v["last-ok-ping-reply"]; if (l == "") l = 0
      d = v["down-after-milliseconds"]; if (d == "") d = 0
      print e, v["ip"] ":" v["port"], f, n, l, d
    }'
}

# ask_all -> one line per Sentinel that answered; all asked at once, so a round takes at most
# QUERY_TIMEOUT however many Sentinels are unreachable.
ask_all() {
  local s i=0 dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/redis-guard.XXXXXX")
  for s in $SENTINELS; do
    ask_one "$s" >"$dir/$i" &
    i=$((i + 1))
  done
  wait
  cat "$dir"/* 2>/dev/null || true
  rm -rf -- "$dir"
}

# choose ANSWERS -> "ip:port flags num-slaves answered last-ok-ping-reply down-after-ms" of the
# winning answer (the longest silence any Sentinel reports for it).
choose() {
  printf '%s\n' "$1" | awk '
    NF >= 4 {
      e = $1 + 0; a = $2
      if (best == "" || e > best) best = e
      votes[e SUBSEP a]++
      flags[a] = flags[a] "," $3
      if ($4 + 0 > slaves[a]) slaves[a] = $4 + 0
      if ($5 + 0 > lastok[a]) lastok[a] = $5 + 0
      if ($6 + 0 > downafter[a]) downafter[a] = $6 + 0
      total++
    }
    END {
      if (total == 0) exit
      win = ""; max = 0
      for (k in votes) {
        split(k, p, SUBSEP)
        if (p[1] + 0 != best) continue
        # Majority among the answers of the highest epoch; ties: the lowest address (stable).
        if (votes[k] > max || (votes[k] == max && p[2] < win)) { max = votes[k]; win = p[2] }
      }
      print win, flags[win], slaves[win] + 0, total, lastok[win] + 0, downafter[win] + 0
    }'
}

# last_known -> the master address the local Sentinel wrote into its config file, if any.
last_known() {
  [ -r "$LOCAL_SENTINEL_CONF" ] || return 0
  awk -v n="$MASTER_NAME" 'tolower($1) == "sentinel" && tolower($2) == "monitor" && $3 == n { a = $4 ":" $5 }
                           END { if (a != "") print a }' "$LOCAL_SENTINEL_CONF"
}

master=""
deadline=$((SECONDS + FAILOVER_WAIT))
while :; do
  answers=$(ask_all)
  if [ -z "$answers" ]; then
    master=$(last_known)
    if [ -n "$master" ]; then
      say "no Sentinel answered; using the master the local Sentinel last recorded: $master"
    else
      master=$INITIAL_MASTER
      say "no Sentinel answered and none recorded a master; initial master: $master"
    fi
    break
  fi
  read -r master flags slaves answered lastok downafter <<<"$(choose "$answers")"
  say "$answered Sentinel(s) answered; master $master (flags $flags, $slaves replica(s), last ping reply ${lastok} ms ago)"
  # Silent for so long that the Sentinels may reach s_down (and fail over) before this Redis
  # answers their PINGs: a quick reboot of the master must not race its own failover (the
  # drill redis-master-quick-return saw it writable next to the new master for ~10 s).
  near_down=$(( downafter > 0 && lastok > (downafter - 2000 > downafter / 2 ? downafter - 2000 : downafter / 2) ))
  if [ "$master" = "$SELF" ] && [ "$slaves" -gt 0 ] \
     && [[ $near_down == 1 || $flags == *s_down* || $flags == *o_down* || $flags == *failover_in_progress* ]]; then
    if [ "$SECONDS" -lt "$deadline" ]; then
      say "the Sentinels see this node down or are failing over; waiting for them to settle"
      sleep 1
      continue
    fi
    say "WARNING: no failover completed within ${FAILOVER_WAIT}s; starting as the master they know"
  fi
  break
done

conf=$REDIS_CONF
[ -f "$conf" ] || { say "ERROR: $conf does not exist"; exit 1; }
tmp=$(mktemp "$conf.guard.XXXXXX")
trap 'rm -f "$tmp"' EXIT
grep -viE '^[[:space:]]*(replicaof|slaveof)[[:space:]]' "$conf" >"$tmp" || true
if [ "$master" = "$SELF" ]; then
  say "starting as master"
else
  printf 'replicaof %s %s\n' "${master%:*}" "${master##*:}" >>"$tmp"
  say "starting as replica of $master"
fi
if cmp -s "$tmp" "$conf"; then
  exit 0
fi
chown --reference="$conf" "$tmp"
chmod --reference="$conf" "$tmp"
mv -f "$tmp" "$conf"
