#!/usr/bin/env bash
# K3sCluster, on the first server: before a node's K3s version changes, cordon and drain it (its
# pods move to the other nodes, PodDisruptionBudgets respected); after its step, uncordon it. The
# steps' triggers hold VERSION, so they run for an upgrade (and on the first apply, where the node
# is not in the cluster yet and there is nothing to do), not for a configuration change: a restart
# of K3s keeps the pods running (KillMode=process).
# Params: MODE (drain|uncordon), NODE, VERSION, DRAIN_TIMEOUT (s).
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

: "${MODE:?}" "${NODE:?}" "${VERSION:?}" "${DRAIN_TIMEOUT:?}"
BIN=${K3S_BIN:-/usr/local/bin/k3s}
if [ ! -x "$BIN" ]; then
  log "K3s is not installed here yet: nothing to $MODE"
  exit 0
fi
kc() { "$BIN" kubectl "$@"; }
current=$(kc get node "$NODE" -o 'jsonpath={.status.nodeInfo.kubeletVersion}' 2>/dev/null || true)
if [ -z "$current" ]; then
  log "node $NODE is not in the cluster yet: nothing to $MODE"
  exit 0
fi
case "$MODE" in
  drain)
    if [ "$current" = "$VERSION" ]; then exit 0; fi
    kc cordon "$NODE" >&2
    kc drain "$NODE" --ignore-daemonsets --delete-emptydir-data --timeout="${DRAIN_TIMEOUT}s" >&2 \
      || die "draining $NODE failed within ${DRAIN_TIMEOUT}s (a PodDisruptionBudget that allows no eviction?); it stays cordoned: kubectl describe node $NODE, then kubectl uncordon $NODE once resolved"
    changed "drained $NODE ($current -> $VERSION)"
    ;;
  uncordon)
    if [ "$(kc get node "$NODE" -o 'jsonpath={.spec.unschedulable}')" = true ]; then
      kc uncordon "$NODE" >&2
      changed "uncordoned $NODE ($current)"
    fi
    ;;
  *) die "MODE must be drain or uncordon, not $MODE" ;;
esac
