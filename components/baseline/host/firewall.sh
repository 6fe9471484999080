#!/usr/bin/env bash
# The platform's nftables table: default deny inbound, each service port open to exactly the
# roles that need it (components/firewall.py). Refuses to apply rules that would cut off the
# SSH session it runs in. Params: SSH_PORT. Files: platform.nft, nftables.conf, admin-sources.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages nftables

ip2int() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  echo $(((a << 24) | (b << 16) | (c << 8) | d))
}
# in_cidr IP CIDR (IPv4; an IPv6 peer or source never matches here).
in_cidr() {
  local ip=$1 net=${2%/*} bits=${2#*/} mask
  [[ $ip == *:* || $net == *:* ]] && return 1
  [ "$bits" = "$2" ] && bits=32
  mask=$(((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF))
  [ $(($(ip2int "$ip") & mask)) -eq $(($(ip2int "$net") & mask)) ]
}

# Never lock out the deployer: at least one live SSH peer must be among the allowed sources.
peers=$(ss -Htn state established "( sport = :$SSH_PORT )" | awk '{print $4}' | sed -E 's/^\[?(::ffff:)?//; s/\]?:[0-9]+$//' | sort -u)
if [ -n "$peers" ]; then
  allowed=0
  while read -r peer; do
    while read -r src; do
      [ -n "$src" ] && in_cidr "$peer" "$src" && allowed=1
    done <"$STEP_DIR/files/admin-sources"
  done <<<"$peers"
  if [ "$allowed" -eq 0 ]; then
    die "none of this host's SSH peers ($(echo "$peers" | tr '\n' ' ')) is in ssh.adminSources; applying the firewall would cut off the deployer"
  fi
else
  log "WARNING: could not see the SSH peer; applying the firewall without the lock-out check"
fi

tmp=$(mktemp "$STEP_DIR/nft.XXXXXX")
bundled platform.nft >"$tmp"
nft -c -f "$tmp" || die "nftables rejected the rendered table (see above)"
put_content "$tmp" /etc/nftables.d/platform.nft 0644 root:root
put nftables.conf /etc/nftables.conf 0755 root:root

if file_changed /etc/nftables.d/platform.nft || ! nft list table inet platform >/dev/null 2>&1; then
  nft -f /etc/nftables.d/platform.nft
  changed "loaded firewall"
fi
# nftables.service loads /etc/nftables.conf (our include) at boot.
if ! systemctl is-enabled --quiet nftables; then
  systemctl enable --quiet nftables
  changed "enabled nftables"
fi
