#!/usr/bin/env bash
# platform-garb-watch, on the arbitrator's host: restarts garbd while no data node is in a Primary
# component (run every few seconds by platform-garb-watch.timer).
#
# garbd keeps no data, but left alone in the group (the data nodes lost power, or left one after
# the other) it keeps the old group's state - and when the last data node left cleanly, a Primary
# view of its own. A node that then bootstraps the cluster aborts ("conflicting prims: older
# overrides") and one that joins aborts ("Group requested repl_proto_ver: 127"); both seen on the
# lab, upstream mariadb-corporation/galera#671. A fresh garbd holds nothing and joins the cluster
# that forms. Nothing is lost by the restart: with no Primary data node there is no quorum to keep.
# NODES (data nodes' addresses), CHECK_PORT come from /etc/default/platform-garb-watch.
set -euo pipefail

NODES=${NODES:?NODES is not set}
CHECK_PORT=${CHECK_PORT:-9200}
MIN_UP_S=${MIN_UP_S:-30}  # a garbd younger than this is fresh already

for a in $NODES; do
  case "$(curl -fsS --max-time 2 "http://$a:$CHECK_PORT/galera" 2>/dev/null || true)" in
    primary*) exit 0 ;;
  esac
done
systemctl is-active --quiet garb || exit 0
entered=$(systemctl show -p ActiveEnterTimestampMonotonic --value garb)
now=$(awk '{printf "%d", $1 * 1000000}' /proc/uptime)
if [ $(( (now - entered) / 1000000 )) -ge "$MIN_UP_S" ]; then
  echo "no data node is in a Primary component: restarting garbd so that it holds no stale group state"
  systemctl restart garb
fi
