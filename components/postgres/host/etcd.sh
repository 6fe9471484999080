#!/usr/bin/env bash
# One member of the etcd (v3 API) DCS that Patroni uses: a database VM or the witness.
# Files: etcd.default, ca.crt, host.crt. Secrets: host_key. Peer and client traffic use TLS with
# client certificates signed by the platform CA.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

# Debian/Ubuntu's etcd-server auto-starts a throwaway single-member cluster in
# /var/lib/etcd/default; ours lives in its own data directory (ETCD_DATA_DIR), so that one is
# simply never used again.
ensure_packages etcd-server etcd-client

install -d -m 0750 -o root -g etcd /etc/etcd/tls
put ca.crt /etc/etcd/tls/ca.crt 0644 root:root
put host.crt /etc/etcd/tls/host.crt 0644 root:root
install_secret host_key /etc/etcd/tls/host.key 0640 root:etcd
put etcd.default /etc/default/etcd 0644 root:root

if ! systemctl is-enabled --quiet etcd 2>/dev/null; then
  systemctl enable --quiet etcd
  changed "enabled etcd"
fi
# etcd is Type=notify and reports ready only once the cluster has a leader, i.e. once a quorum of
# members runs: start without blocking; Patroni's step waits (bounded) for quorum.
if file_changed /etc/default/etcd /etc/etcd/tls/ca.crt /etc/etcd/tls/host.crt /etc/etcd/tls/host.key; then
  systemctl restart --no-block etcd
  changed "restarted etcd"
elif ! systemctl is-active --quiet etcd; then
  systemctl start --no-block etcd
  changed "started etcd"
fi

# The member must at least be running (activating while it waits for its peers is fine).
for _ in $(seq 1 20); do
  state=$(systemctl show -p ActiveState --value etcd)
  case "$state" in
    active|activating) exit 0 ;;
  esac
  sleep 1
done
journalctl -u etcd -n 30 --no-pager >&2 || true
die "etcd is $state"
