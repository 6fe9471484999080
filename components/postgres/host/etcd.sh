#!/usr/bin/env bash
# One member of the etcd (v3 API) DCS that Patroni uses: a database VM or the witness.
# Files: etcd.default, join.dropin, ca.crt, host.crt; on the witness etcd-leader, etcd-leader.service,
# etcd-leader.timer. Secrets: host_key. Params: MEMBER_NAME, DATA_DIR, PEER_URL, PREFERRED_LEADER,
# OWN_ENDPOINT, OTHER_ENDPOINTS (the other members' client URLs), ALL_ENDPOINTS, MEMBER_PEER_URLS (the
# configured members). Peer and client traffic use TLS with client certificates signed by the platform CA.
#
# Membership after bootstrap: a member without data (a new VM, or one rebuilt) whose cluster already
# runs is added with `etcdctl member add` (its stale entry removed first) and started as
# "existing"; members no longer in the configuration are removed once every configured one is
# healthy. At bootstrap (no cluster answers yet) every member starts as "new".
#
# Restarts roll: the members' steps run one after the other, and a member whose peers are all
# healthy restarts and waits until it is healthy again, so a changed configuration never costs
# quorum. Settings etcd reads only at bootstrap (ETCD_INITIAL_*: the member list changes whenever a
# member is replaced) restart nothing on a member that has data.
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
# What etcd uses once it has data: the defaults without comments and ETCD_INITIAL_* lines.
effective() { grep -Ev '^(#|ETCD_INITIAL_)' "$1" 2>/dev/null || true; }
old_effective=$(effective /etc/default/etcd)
put etcd.default /etc/default/etcd 0644 root:root
put join.dropin /etc/systemd/system/etcd.service.d/platform-join.conf 0644 root:root
if file_changed /etc/systemd/system/etcd.service.d/platform-join.conf; then
  systemctl daemon-reload
fi

ctl() {  # ctl ENDPOINTS ARGS... - etcdctl with this member's client certificate
  local eps=$1; shift
  ETCDCTL_API=3 etcdctl --endpoints="$eps" --cacert=/etc/etcd/tls/ca.crt --cert=/etc/etcd/tls/host.crt \
    --key=/etc/etcd/tls/host.key --command-timeout=5s "$@"
}
JOIN_ENV=/etc/etcd/join.env

# A member without data joins a cluster that already runs (answers `member list` with quorum).
if [ ! -d "$DATA_DIR/member" ] && [ -n "$OTHER_ENDPOINTS" ] && members=$(ctl "$OTHER_ENDPOINTS" member list 2>/dev/null); then
  mine=$(awk -F', ' -v u="$PEER_URL" '$4 == u' <<<"$members")
  # Listed without client URLs = a bootstrap member that never ran (etcdctl calls members of the
  # initial cluster "started" once they have a name): its ordinary "new" start joins the others.
  # Listed with client URLs = this member ran before and lost its data.
  clients=$(awk -F', ' '{print $5}' <<<"$mine")
  if [ -z "$mine" ] || [ -n "$clients" ]; then
    if [ -n "$mine" ]; then
      id=${mine%%,*}
      systemctl stop etcd 2>/dev/null || true
      ctl "$OTHER_ENDPOINTS" member remove "$id" >&2
      changed "removed this host's stale etcd member $id (its data is gone)"
    fi
    out=$(ctl "$OTHER_ENDPOINTS" member add "$MEMBER_NAME" --peer-urls="$PEER_URL")
    tmp=$(mktemp "$STEP_DIR/join.XXXXXX")
    { grep '^ETCD_INITIAL_CLUSTER=' <<<"$out"; echo 'ETCD_INITIAL_CLUSTER_STATE="existing"'; } >"$tmp"
    put_content "$tmp" "$JOIN_ENV" 0644 root:root
    changed "added to the running etcd cluster"
  fi
fi

if ! systemctl is-enabled --quiet etcd 2>/dev/null; then
  systemctl enable --quiet etcd
  changed "enabled etcd"
fi
# etcd is Type=notify and reports ready only once the cluster has a leader, i.e. once a quorum of
# members runs: at bootstrap start without blocking; Patroni's step waits (bounded) for quorum.
restart=0
if file_changed /etc/etcd/tls/ca.crt /etc/etcd/tls/host.crt /etc/etcd/tls/host.key "$JOIN_ENV"; then
  restart=1
elif file_changed /etc/default/etcd; then
  if [ -d "$DATA_DIR/member" ] && [ "$old_effective" = "$(effective /etc/default/etcd)" ]; then
    changed "etcd not restarted: only bootstrap settings (ETCD_INITIAL_*) changed, unused once it has data"
  else
    restart=1
  fi
fi
# A new CA does not roll: peers that trust only the old one would refuse this member once it runs
# with the new one (and its step would wait in vain); all members take it within one apply instead.
if [ "$restart" -eq 1 ] && ! file_changed /etc/etcd/tls/ca.crt && systemctl is-active --quiet etcd \
   && [ -d "$DATA_DIR/member" ] \
   && { [ -z "$OTHER_ENDPOINTS" ] || ctl "$OTHER_ENDPOINTS" endpoint health >/dev/null 2>&1; }; then
  # A running member whose peers are all healthy: a rolling restart, done only once it is back.
  timeout 90 systemctl restart etcd || die "etcd did not come back within 90 s after its restart"
  own_healthy() { ctl "$OWN_ENDPOINT" endpoint health >/dev/null 2>&1; }
  wait_until 30 1 "etcd to report healthy" own_healthy || die "etcd restarted but is not healthy after 30 s"
  changed "restarted etcd (rolling: peers healthy, back healthy)"
elif [ "$restart" -eq 1 ]; then
  systemctl restart --no-block etcd
  changed "restarted etcd"
elif ! systemctl is-active --quiet etcd; then
  systemctl start --no-block etcd
  changed "started etcd"
fi

# The member must at least be running (activating while it waits for its peers is fine).
running() {
  case "$(systemctl show -p ActiveState --value etcd)" in
    active|activating) return 0 ;;
    *) return 1 ;;
  esac
}
if ! wait_until 20 1 "etcd to run" running; then
  journalctl -u etcd -n 30 --no-pager >&2 || true
  die "etcd is $(systemctl show -p ActiveState --value etcd)"
fi

# The witness keeps the raft leader (files/etcd-leader.sh says why); elsewhere the timer must not run.
if [ "$PREFERRED_LEADER" = 1 ]; then
  put etcd-leader /usr/local/sbin/platform-etcd-leader 0755 root:root
  tmp=$(mktemp "$STEP_DIR/endpoints.XXXXXX")
  printf '%s\n' "$ALL_ENDPOINTS" >"$tmp"
  put_content "$tmp" /etc/etcd/platform-endpoints 0644 root:root
  install_timer platform-etcd-leader etcd-leader
elif [ -f /etc/systemd/system/platform-etcd-leader.timer ]; then
  systemctl disable --now platform-etcd-leader.timer 2>/dev/null || true
  rm -f /etc/systemd/system/platform-etcd-leader.timer /etc/systemd/system/platform-etcd-leader.service \
    /usr/local/sbin/platform-etcd-leader
  systemctl daemon-reload
  changed "removed the etcd leader timer (no longer the witness)"
fi

# Members no longer configured (a replaced witness) still count towards quorum: remove them, but
# only while every configured member is healthy, so a removal never costs quorum.
if ctl "$ALL_ENDPOINTS" endpoint health >/dev/null 2>&1 && members=$(ctl "$ALL_ENDPOINTS" member list 2>/dev/null); then
  while IFS= read -r line; do
    peer=$(awk -F', ' '{print $4}' <<<"$line")
    case ",$MEMBER_PEER_URLS," in *",$peer,"*) continue ;; esac
    name=$(awk -F', ' '{print $3}' <<<"$line")
    if out=$(ctl "$ALL_ENDPOINTS" member remove "${line%%,*}" 2>&1); then
      changed "removed etcd member ${name:-(never started)} ($peer): not configured"
    elif ! grep -q 'member not found' <<<"$out"; then  # else another member's step was first
      printf '%s
' "$out" >&2
      die "could not remove etcd member ${line%%,*} ($peer)"
    fi
  done <<<"$members"
fi
