#!/usr/bin/env bash
# MariadbCluster, database VM: MariaDB 10.11 (and with GALERA=1 the Galera provider), its TLS
# material and configuration, the router's health check, then the Mautic database and the users.
# Galera: the first apply bootstraps the cluster on BOOTSTRAP=1 (only when this node never was in
# one and no peer is healthy); every other node, and any node later, joins a healthy peer (state
# transfer from it). A configuration change restarts this node only while every data node is
# Synced, and the step waits until it is Synced again: one node at a time (the steps run in order).
# Params: GALERA (0/1), BOOTSTRAP (0/1), PEERS (other data nodes' addresses), MEMBERS (data nodes
#         + arbitrator), CHECK_PORT.
# Files: 90-platform.cnf, ca.crt, host.crt, host.key (placeholder), users.sql (placeholders),
#        mariadb-check, check.default, platform-mariadb-check.socket, platform-mariadb-check@.service,
#        with Galera: mariadb-recover, recover.default, platform-mariadb-recover.{service,timer}.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

STATE=/var/lib/platform-mariadb
CONF=/etc/mysql/mariadb.conf.d/90-platform.cnf
TLS=/etc/mysql/tls

# --- packages: MariaDB 10.11 or later (Debian 12, Ubuntu 24.04; Ubuntu 22.04 ships 10.6) ----------
candidate() { apt-cache policy mariadb-server 2>/dev/null | sed -nE 's/^ *Candidate: (.*)$/\1/p'; }
if ! dpkg-query -W -f='${db:Status-Status}' mariadb-server 2>/dev/null | grep -qx installed; then
  # Refuse before installing anything: the release's version, from a fresh package index.
  (flock -w 600 9 && apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null 2>&1) 9>/var/lib/platform-apt.lock \
    || die "apt-get update failed"
  candidate=$(candidate)
  ver=$(sed -E 's/^[0-9]+://; s/[-+~].*//' <<<"${candidate:-0}")
  if ! printf '10.11\n%s\n' "$ver" | sort -V -C; then
    die "MariaDB 10.11 or later is required (Galera's wsrep_mode, TLS SST); this release offers mariadb-server ${candidate:-none} (Ubuntu 22.04 ships 10.6): use Debian 12 or Ubuntu 24.04"
  fi
fi
pkgs=(mariadb-server mariadb-client mariadb-backup curl)
[ "$GALERA" = 1 ] && pkgs+=(galera-4 socat)
ensure_packages "${pkgs[@]}"
install -d -m 0700 -o root -g root "$STATE"

# --- TLS material and configuration ---------------------------------------------------------------
restart=0
install -d -m 0750 -o root -g mysql "$TLS"
put ca.crt "$TLS/ca.crt" 0644 root:root
put host.crt "$TLS/host.crt" 0644 root:root
put host.key "$TLS/host.key" 0640 root:mysql
put 90-platform.cnf "$CONF" 0644 root:root
if file_changed "$TLS/ca.crt" "$TLS/host.crt" "$TLS/host.key" "$CONF"; then restart=1; fi

# --- the router's health check ----------------------------------------------------------------------
if ! id -u platform-mariadb-check >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin platform-mariadb-check
  changed "created user platform-mariadb-check"
fi
put mariadb-check /usr/local/lib/platform-mariadb/mariadb-check 0755 root:root
put check.default /etc/default/platform-mariadb-check 0644 root:root
put platform-mariadb-check.socket /etc/systemd/system/platform-mariadb-check.socket 0644 root:root
put platform-mariadb-check@.service /etc/systemd/system/platform-mariadb-check@.service 0644 root:root
if file_changed /etc/systemd/system/platform-mariadb-check.socket /etc/systemd/system/platform-mariadb-check@.service; then
  systemctl daemon-reload
  if systemctl is-active --quiet platform-mariadb-check.socket; then
    systemctl restart platform-mariadb-check.socket
    changed "restarted platform-mariadb-check.socket"
  fi
fi
ensure_enabled platform-mariadb-check.socket

# --- the full-outage recovery agent (Galera) ----------------------------------------------------------
if [ "$GALERA" = 1 ]; then
  put mariadb-recover /usr/local/lib/platform-mariadb/mariadb-recover 0755 root:root
  put recover.default /etc/default/platform-mariadb-recover 0644 root:root
  install_timer platform-mariadb-recover
fi

# --- state -------------------------------------------------------------------------------------------
sql() { timeout 10 mariadb --protocol=socket -N -B -e "$1" 2>/dev/null; }
status_var() { sql "SHOW GLOBAL STATUS LIKE '$1'" | awk '{print $2}'; }
synced() { [ "$(status_var wsrep_local_state)" = 4 ] && [ "$(status_var wsrep_cluster_status)" = Primary ]; }
running() { systemctl is-active --quiet mariadb && sql "SELECT 1" >/dev/null; }
# A peer that can take writes answers its health check with 200 (Synced, Primary).
healthy_peer() {
  local p
  for p in $PEERS; do
    if curl -fsS --max-time 2 -o /dev/null "http://$p:$CHECK_PORT/"; then echo "$p"; return 0; fi
  done
  return 1
}
# This node has been a member of a cluster: its state file names one (uuid not all zeros).
was_member() {
  local f=/var/lib/mysql/grastate.dat
  [ -f "$f" ] && ! grep -Eq '^uuid: *0{8}-0{4}-0{4}-0{4}-0{12}$' "$f" && grep -Eq '^uuid: *[0-9a-f-]{36}$' "$f"
}
cluster_size() { status_var wsrep_cluster_size; }
all_members() { [ "$(cluster_size)" -ge "$MEMBERS" ]; }

if [ "$GALERA" = 1 ]; then
  if running && synced; then
    if [ "$restart" = 1 ]; then
      # Restart only while every data node is in the cluster (the arbitrator counts too).
      wait_until 120 2 "every member in the cluster before restarting this one" all_members \
        || die "not every member of the cluster is in it (wsrep_cluster_size $(cluster_size) of $MEMBERS); not restarting this one"
      systemctl restart mariadb
      changed "restarted mariadb"
    fi
  elif peer=$(healthy_peer); then
    log "joining the cluster through $peer (state transfer if needed)"
    systemctl restart mariadb
    changed "joined the Galera cluster (via $peer)"
  elif [ "$BOOTSTRAP" = 1 ] && ! was_member; then
    log "no cluster yet: bootstrapping it on this node"
    systemctl stop mariadb
    galera_new_cluster
    changed "bootstrapped the Galera cluster"
  else
    # Never bootstrap a node that has been a member here: its peers may hold newer commits. After a
    # full outage platform-mariadb-recover brings the cluster back once every data node reported.
    log "no healthy peer among [$PEERS]: waiting for platform-mariadb-recover (journalctl -u platform-mariadb-recover)"
    wait_until 300 5 "a Primary component (platform-mariadb-recover)" synced \
      || die "no healthy peer among [$PEERS] to join, and this node was a cluster member before (or is not the bootstrap node); platform-mariadb-recover waits for every data node's position (journalctl -u platform-mariadb-recover); see the README's MariaDB runbook"
  fi
  systemctl enable --quiet mariadb
  wait_until 900 2 "MariaDB Synced in the Primary component" synced \
    || die "MariaDB did not become Synced (journalctl -u mariadb)"
else
  if [ "$restart" = 1 ]; then
    systemctl restart mariadb
    changed "restarted mariadb"
  fi
  ensure_enabled mariadb
  wait_until 120 2 "MariaDB to answer" running || die "MariaDB does not answer (journalctl -u mariadb)"
fi

# --- database and users: applied when the rendered SQL (with its passwords) changed ---------------
users=$(mktemp "$STEP_DIR/users.XXXXXX")
bundled users.sql >"$users"
want=$(sha256sum <"$users" | cut -d' ' -f1)
if [ "$want" != "$(cat "$STATE/users.sha256" 2>/dev/null || true)" ]; then
  timeout 60 mariadb --protocol=socket <"$users" || die "creating the database and users failed"
  printf '%s\n' "$want" >"$STATE/users.sha256"
  changed "database and users"
fi
