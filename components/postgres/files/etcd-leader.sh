#!/usr/bin/env bash
# platform-etcd-leader: keeps the etcd raft leader on this witness VM (run by a systemd timer).
# Why: a new raft leader extends every lease by its full TTL. When the leader was on the database
# VM that died, Patroni's leader key lived ~ttl more seconds after the election and node-death
# failover took ~23.5 s instead of ~19 s (pg-node-death drill). The witness runs no PostgreSQL, so
# with the raft leader there a database VM's death costs no etcd election. Acts only while every
# member is healthy; a no-op when this member already leads.
set -euo pipefail
ENDPOINTS=$(cat /etc/etcd/platform-endpoints)
ctl() {
  ETCDCTL_API=3 etcdctl --cacert=/etc/etcd/tls/ca.crt --cert=/etc/etcd/tls/host.crt \
    --key=/etc/etcd/tls/host.key --command-timeout=3s "$@"
}
read -r id leader < <(ctl --endpoints=https://127.0.0.1:2379 endpoint status | awk -F', ' '{print $2, $5}')
[ "$leader" = true ] && exit 0
ctl --endpoints="$ENDPOINTS" endpoint health >/dev/null 2>&1 || exit 0
ctl --endpoints="$ENDPOINTS" move-leader "$id"
