#!/usr/bin/env bash
# K3sCluster, every K3s node: the pinned K3s binary, its configuration and its systemd unit, then
# (re)start and wait until the node is usable. The binary (and, air-gapped, the images tarball) is
# downloaded from BASE_URL and checked against the release's sha256sum-<arch>.txt before it is
# installed; a node that already runs VERSION downloads nothing. A changed binary, config.yaml or
# unit restarts K3s (pods keep running: KillMode=process); the steps run one server after the
# other, each waiting for its node to be Ready, so servers restart one at a time.
# Params: ROLE (server|agent), SERVICE, NODE_NAME, VERSION, BASE_URL, AIRGAP (0/1), BOOTSTRAP (0/1:
#         the first server), PEERS (the other servers' addresses, on the first server), API_PORT,
#         READY_TIMEOUT (s).
# Files: config.yaml (placeholders: k3s_token, on servers s3_access_key, s3_secret_key), unit,
#        s3-ca.pem (servers, with s3.caCertificate).
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

BIN=/usr/local/bin/k3s
CONF_DIR=/etc/rancher/k3s
DATA=/var/lib/rancher/k3s
IMAGES=$DATA/agent/images
STATE=/var/lib/platform-k3s

ensure_packages curl ca-certificates
install -d -m 0700 -o root -g root "$STATE"

case "$(dpkg --print-architecture)" in
  amd64) arch=amd64 asset=k3s ;;
  arm64) arch=arm64 asset=k3s-arm64 ;;
  *) die "K3s is installed for amd64 and arm64 only, not $(dpkg --print-architecture)" ;;
esac
sums="$STEP_DIR/sha256sum-$arch.txt"

# fetch NAME DEST - download BASE_URL/NAME to DEST (bounded retries; no partial file on failure).
fetch() {
  curl -fsSL --retry 5 --retry-delay 3 --connect-timeout 15 -o "$2" "$BASE_URL/$1" \
    || die "download of $BASE_URL/$1 failed"
}

# verified NAME FILE - FILE has the checksum the release lists for NAME.
verified() {
  [ -f "$sums" ] || fetch "sha256sum-$arch.txt" "$sums"
  local want
  want=$(awk -v f="$1" '$2 == f || $2 == "*" f { print $1 }' "$sums")
  [ -n "$want" ] || die "sha256sum-$arch.txt of $VERSION lists no $1"
  printf '%s  %s\n' "$want" "$2" | sha256sum -c --quiet --status
}

# --- the first server: never a second cluster next to a running one --------------------------------
# cluster-init on a server without etcd data starts a new cluster. That is right only on the first
# apply: if this VM was rebuilt while the other servers run, it must join them instead.
if [ "$BOOTSTRAP" = 1 ] && [ ! -d "$DATA/server/db/etcd" ]; then
  for peer in $PEERS; do
    if curl -fsk --max-time 5 -o /dev/null "https://$peer:$API_PORT/cacerts"; then
      die "this server has no etcd data but $peer already runs the cluster: cluster-init here would split it in two. To rebuild the first server, list another server first in hosts.k3sServers, kubectl delete node $NODE_NAME, then pulumi up (README, K3s, replacing a server)"
    fi
  done
fi

# --- binary ------------------------------------------------------------------------------------------
binary_changed=0
current=$("$BIN" --version 2>/dev/null | awk 'NR == 1 { print $3 }' || true)
if [ "$current" != "$VERSION" ]; then
  log "installing K3s $VERSION (found: ${current:-none}) from $BASE_URL"
  fetch "$asset" "$STEP_DIR/k3s.new"
  verified "$asset" "$STEP_DIR/k3s.new" || die "$asset from $BASE_URL does not match its sha256 in sha256sum-$arch.txt"
  install -m 0755 -o root -g root "$STEP_DIR/k3s.new" "$BIN.new"
  mv -f "$BIN.new" "$BIN"
  binary_changed=1
  changed "K3s ${current:-none} -> $VERSION"
fi
for tool in kubectl crictl ctr; do
  # The tools K3s embeds, as the install script links them (never over a separately installed one).
  if [ ! -e "/usr/local/bin/$tool" ]; then
    ln -s "$BIN" "/usr/local/bin/$tool"
    changed "linked /usr/local/bin/$tool"
  fi
done

# --- air-gapped: the release's images, imported by K3s at start ------------------------------------
images_changed=0
if [ "$AIRGAP" = 1 ]; then
  tarball="k3s-airgap-images-$arch.tar.zst"
  # The checksum verified last time, per version: a second run downloads nothing.
  if [ "$(cat "$STATE/images.verified" 2>/dev/null || true)" != "$VERSION $tarball" ] || [ ! -f "$IMAGES/$tarball" ]; then
    fetch "$tarball" "$STEP_DIR/images.new"
    verified "$tarball" "$STEP_DIR/images.new" || die "$tarball from $BASE_URL does not match its sha256"
    install -d -m 0755 "$IMAGES"
    install -m 0644 "$STEP_DIR/images.new" "$IMAGES/$tarball"
    echo "$VERSION $tarball" >"$STATE/images.verified"
    images_changed=1
    changed "images $tarball of $VERSION"
  fi
fi

# --- configuration and unit --------------------------------------------------------------------------
install -d -m 0755 -o root -g root "$CONF_DIR"
put config.yaml "$CONF_DIR/config.yaml" 0600 root:root
if [ -f "$STEP_DIR/files/s3-ca.pem" ]; then
  put s3-ca.pem "$CONF_DIR/s3-ca.pem" 0644 root:root
fi
put unit "/etc/systemd/system/$SERVICE" 0644 root:root
if file_changed "/etc/systemd/system/$SERVICE"; then
  systemctl daemon-reload
fi
restart=0
if [ "$binary_changed" = 1 ] || [ "$images_changed" = 1 ] \
   || file_changed "$CONF_DIR/config.yaml" "$CONF_DIR/s3-ca.pem" "/etc/systemd/system/$SERVICE"; then
  restart=1
fi
ensure_service "$SERVICE" "$restart"

# --- ready: the next server joins only after this one (bounded) ------------------------------------
node_ready() {
  [ "$("$BIN" kubectl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' \
        2>/dev/null)" = True ]
}
kubelet_healthy() { curl -fs --max-time 3 -o /dev/null http://127.0.0.1:10248/healthz; }
if [ "$ROLE" = server ]; then
  wait_until "$READY_TIMEOUT" 5 "node $NODE_NAME to be Ready" node_ready \
    || die "node $NODE_NAME is not Ready after ${READY_TIMEOUT}s: journalctl -u $SERVICE"
else
  # An agent cannot read the node objects; a healthy kubelet means it registered with a server.
  wait_until "$READY_TIMEOUT" 5 "the kubelet of $NODE_NAME" kubelet_healthy \
    || die "the kubelet of $NODE_NAME is not healthy after ${READY_TIMEOUT}s: journalctl -u $SERVICE"
fi
