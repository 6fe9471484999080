#!/usr/bin/env bash
# PostgreSQL under Patroni on a database VM: packages (PGDG only where the distribution lacks the
# version), certificates, pgBackRest configuration (archive_command and replica restore need it),
# the Patroni configuration, start, and a bounded wait until this node runs PostgreSQL.
# Params: PG_VERSION, CLUSTER, DATA_DIR, HOST_IP, API_PORT, ETCD_CLIENT_PORT, NODE_ROLE (leader|replica).
# Files: config.yml, dcs.yml, pgbackrest.conf, ca.crt, host.crt, patroni_launcher.py, on-role-change, patroni.dropin,
# s3-ca.crt (optional).
# Secrets: host_key and the passwords the files refer to.
# Configuration changes are applied with a Patroni reload, cluster-wide settings with `patronictl
# edit-config`; a parameter that only a restart applies (Patroni: "pending restart") is made live
# with a rolling restart: replicas first, the primary last, each member back before the next.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

TLS=/etc/patroni/tls
CONFIG=/etc/patroni/config.yml

api() {  # api PATH -> HTTP status of GET https://HOST_IP:API_PORT/PATH (000 when unreachable)
  curl -s -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$TLS/ca.crt" \
    --cert "$TLS/host.crt" --key "$TLS/host.key" "https://$HOST_IP:$API_PORT/$1" || true
}

# settled: every member running, a leader, and a sync standby where the cluster is synchronous.
settled() {
  curl -s --max-time 3 --cacert "$TLS/ca.crt" "https://$HOST_IP:$API_PORT/cluster" | python3 -c '
import json, sys
ms = json.load(sys.stdin)["members"]
sync = "synchronous_mode: true" in open("/etc/patroni/dcs.yml").read()
ok = all(m["state"] in ("running", "streaming") for m in ms) and any(m["role"] == "leader" for m in ms)
sys.exit(0 if ok and (not sync or len(ms) < 2 or any(m["role"] == "sync_standby" for m in ms)) else 1)'
}
wait_settled() {  # wait_settled SECONDS (bounded; 1 when the cluster did not settle)
  wait_until "$1" 1 "every member running (and a sync standby)" settled
}
# pending leader|replica: the members of that role that Patroni flags "pending restart".
pending() {
  curl -s --max-time 3 --cacert "$TLS/ca.crt" "https://$HOST_IP:$API_PORT/cluster" | python3 -c '
import json, sys
for m in json.load(sys.stdin)["members"]:
    if m.get("pending_restart") and (m["role"] == "leader") == (sys.argv[1] == "leader"):
        print(m["name"])' "$1" || true
}

# --- packages ---------------------------------------------------------------------------------
ensure_packages ca-certificates curl gnupg postgresql-common
# Debian's postgresql package would create and start a "main" cluster; Patroni owns ours.
install -d -m 0755 /etc/postgresql-common/createcluster.d
printf '# Rendered by the platform program: Patroni creates the cluster, not the package.\ncreate_main_cluster = false\n' \
  >"$STEP_DIR/createcluster.conf"
put_content "$STEP_DIR/createcluster.conf" /etc/postgresql-common/createcluster.d/platform.conf 0644 root:root

if ! apt-cache show "postgresql-$PG_VERSION" >/dev/null 2>&1; then
  # Ubuntu 22.04/24.04 ship other major versions: add the PGDG repository (its signing key comes
  # with postgresql-common's own helper script).
  if [ -x /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh ]; then
    /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y >/dev/null
    STEP_APT_UPDATED=0
    changed "added the PGDG repository"
  fi
  apt-cache show "postgresql-$PG_VERSION" >/dev/null 2>&1 || STEP_APT_UPDATED=0
fi
ensure_packages "postgresql-$PG_VERSION" "postgresql-client-$PG_VERSION" patroni pgbackrest etcd-client

# A "main" cluster created before our createcluster.d file existed (package installed earlier).
if [ -d "/etc/postgresql/$PG_VERSION/main" ]; then
  main_data=/var/lib/postgresql/$PG_VERSION/main
  # Only a pristine cluster (template0, template1, postgres) is dropped; anything else is data.
  if [ -d "$main_data/base" ] && [ "$(find "$main_data/base" -mindepth 1 -maxdepth 1 -type d | wc -l)" -gt 3 ]; then
    die "/etc/postgresql/$PG_VERSION/main holds databases; move them away before Patroni takes over"
  fi
  pg_dropcluster --stop "$PG_VERSION" main
  changed "dropped the package's $PG_VERSION/main cluster"
fi

# --- certificates, pgBackRest, Patroni configuration -------------------------------------------
install -d -m 0750 -o postgres -g postgres /etc/patroni "$TLS"
put ca.crt "$TLS/ca.crt" 0644 postgres:postgres
put host.crt "$TLS/host.crt" 0644 postgres:postgres
install_secret host_key "$TLS/host.key" 0600 postgres:postgres

install -d -m 0750 -o postgres -g postgres /var/spool/pgbackrest /var/log/pgbackrest
install -d -m 0755 /etc/pgbackrest
if [ -f "$STEP_DIR/files/s3-ca.crt" ]; then
  put s3-ca.crt /etc/pgbackrest/s3-ca.crt 0644 root:root
fi
put pgbackrest.conf /etc/pgbackrest.conf 0640 root:postgres

install -d -m 0700 -o postgres -g postgres "$(dirname "$DATA_DIR")"
put config.yml "$CONFIG" 0600 postgres:postgres
put dcs.yml /etc/patroni/dcs.yml 0644 root:root
if ! patroni --validate-config "$CONFIG" >"$STEP_DIR/validate.log" 2>&1; then
  # Patroni 3.0 also probes the listen ports, which are in use once it runs: report, don't fail.
  if grep -qv 'already in use' "$STEP_DIR/validate.log"; then
    cat "$STEP_DIR/validate.log" >&2
    die "patroni --validate-config rejected $CONFIG"
  fi
fi

# --- the DCS must have quorum before Patroni starts (bounded: 60 x 2 s) -------------------------
etcd_ok() {
  ETCDCTL_API=3 etcdctl --endpoints="https://127.0.0.1:$ETCD_CLIENT_PORT" --cacert="$TLS/ca.crt" \
    --cert="$TLS/host.crt" --key="$TLS/host.key" --command-timeout=3s endpoint health >/dev/null 2>&1
}
wait_until 120 2 "etcd quorum" etcd_ok || die "etcd has no quorum after 120 s (are the other members' etcd steps done?)"

# --- Patroni --------------------------------------------------------------------------------------
# Patroni runs through the launcher, which backports upstream's etcd3 leader-key fix on Patroni
# < 3.0.3 (patroni_launcher.py says why) and is inert on fixed versions.
LAUNCHER=/usr/local/lib/platform-patroni/patroni_launcher.py  # render.PATRONI_LAUNCHER
DROPIN=/etc/systemd/system/patroni.service.d/platform.conf
put patroni_launcher.py "$LAUNCHER" 0644 root:root
# Patroni's on_role_change callback (config.yml names it: render.ROLE_CHANGE_CALLBACK).
put on-role-change /usr/local/lib/platform-patroni/on-role-change 0755 root:root
put patroni.dropin "$DROPIN" 0644 root:root
if file_changed "$DROPIN"; then
  systemctl daemon-reload
fi

started=0
reconfigured=0
if ! systemctl is-enabled --quiet patroni 2>/dev/null; then
  systemctl enable --quiet patroni
  changed "enabled patroni"
fi
if ! systemctl is-active --quiet patroni; then
  systemctl start patroni
  started=1
  changed "started patroni"
elif file_changed "$LAUNCHER" "$DROPIN"; then
  # Only a Patroni restart loads new code. Paused, Patroni leaves PostgreSQL running when it stops
  # and re-attaches when it starts: no failover, no client sees it.
  patronictl -c "$CONFIG" pause --wait "$CLUSTER" >&2
  systemctl restart patroni
  api_healthy() { [ "$(api health)" = 200 ]; }
  wait_until 60 1 "Patroni's API" api_healthy || true
  patronictl -c "$CONFIG" resume --wait "$CLUSTER" >&2
  # Back to normal before the step ends (bounded: 30 s).
  wait_settled 30 || true
  changed "restarted patroni (paused) for the launcher"
elif file_changed "$CONFIG" "$TLS/ca.crt" "$TLS/host.crt" "$TLS/host.key" /etc/pgbackrest.conf; then
  # SIGHUP: Patroni re-reads its file and reloads PostgreSQL; no restart, no failover.
  systemctl reload patroni
  changed "reloaded patroni"
  reconfigured=1
fi

# A replica may be restored from S3 first: allow it time (bounded: 900 s).
api_ok() { [ "$(api health)" = 200 ]; }
if ! wait_until 900 2 "PostgreSQL under Patroni" api_ok; then
  journalctl -u patroni -n 40 --no-pager >&2 || true
  die "PostgreSQL is not running under Patroni after 900 s"
fi
if [ "$NODE_ROLE" = leader ] && [ "$started" -eq 1 ]; then
  # First start of the first node: wait for it to take the leader key (bootstrap or existing).
  has_role() { [ "$(api primary)" = 200 ] || [ "$(api replica)" = 200 ]; }
  wait_until 60 1 "the leader key" has_role || true
fi

# Cluster-wide settings changed since bootstrap (timing profile, synchronous mode, DCS params).
if file_changed /etc/patroni/dcs.yml && [ "$started" -eq 0 ]; then
  patronictl -c "$CONFIG" edit-config --force --quiet --apply /etc/patroni/dcs.yml "$CLUSTER" >&2
  changed "applied cluster-wide settings"
  reconfigured=1
fi

# --- parameters that only a restart applies ----------------------------------------------------------
# Patroni takes a changed configuration in its next cycles and then flags the members that run with
# an old value of a restart-only parameter (max_connections, shared_buffers, ...) "pending restart".
# Without a restart the change would never be live, so it rolls: replicas first (a replica must not
# run with a lower max_connections & co. than its primary), the primary last (a few seconds without
# writes, no failover: Patroni keeps the leader key), each member settled before the next; then any
# replica still pending once more (after a lowered value: a replica keeps the primary's higher value
# until the primary has restarted). Bounded: Patroni's cycles, 120 s per member to settle.
restart_member() {
  patronictl -c "$CONFIG" restart "$CLUSTER" "$1" --pending --force >&2 \
    || die "patronictl restart of $1 failed (journalctl -u patroni on $1)"
  wait_settled 120 || die "the cluster did not settle within 120 s after restarting $1"
  changed "restarted $1 (pending restart)"
}
if [ "$reconfigured" -eq 1 ]; then
  # Every member takes the change within its next cycles; the order is only right once all have
  # (a primary flagged alone first and restarted first leaves the replica below its values:
  # "hot standby is not possible because of insufficient parameter settings", seen on the lab).
  loop_wait=$(sed -nE 's/^loop_wait: *([0-9]+).*/\1/p' /etc/patroni/dcs.yml)
  members=$(curl -s --max-time 3 --cacert "$TLS/ca.crt" "https://$HOST_IP:$API_PORT/cluster" \
    | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["members"]))' || echo 0)
  all_flagged() { [ "$({ pending replica; pending leader; } | grep -c .)" -ge "$members" ]; }
  wait_until $(( 2 * ${loop_wait:-10} + 5 )) 1 "every member to take the change" all_flagged || true
fi
for round in 1 2; do
  for member in $(pending replica); do restart_member "$member"; done
  [ "$round" -eq 1 ] || break
  leaders=$(pending leader)
  [ -n "$leaders" ] || break
  for member in $leaders; do restart_member "$member"; done
  # A replica's flag follows the primary's new values in the replica's next cycle: read it after
  # one. Read at once, a stale "pending" restarted the replica a second time for nothing (seen on
  # the lab with loop_wait 10).
  sleep $(( ${loop_wait:-10} + 2 ))
  [ -n "$(pending replica)" ] || break
done
# The flags live in each member's DCS key, refreshed in its next cycle: right after the primary's
# restart it may still say "pending" (seen on the lab once), so wait (bounded) before calling it stuck.
nothing_pending() { [ -z "$(pending replica)$(pending leader)" ]; }
wait_until $(( 2 * ${loop_wait:-10} + 5 )) 1 "the pending-restart flags to clear" nothing_pending \
  || die "still pending a restart after the rolling restart: $(pending replica)$(pending leader)"
