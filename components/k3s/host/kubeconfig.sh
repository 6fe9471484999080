#!/usr/bin/env bash
# K3sCluster, the first server: prints the admin kubeconfig K3s wrote, base64 on one line between
# markers, for the program to rewrite (components/k3s/render/kubeconfig.py) and hand to the
# kubernetes provider. The step's output is a Pulumi secret and is never logged (secret_output).
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

KUBECONFIG_FILE=${KUBECONFIG_FILE:-/etc/rancher/k3s/k3s.yaml}
wait_until 120 2 "$KUBECONFIG_FILE" test -s "$KUBECONFIG_FILE" \
  || die "$KUBECONFIG_FILE is missing: is K3s running on this server? (journalctl -u k3s)"
printf 'platform-kubeconfig-begin\n%s\nplatform-kubeconfig-end\n' "$(base64 -w0 "$KUBECONFIG_FILE")"
