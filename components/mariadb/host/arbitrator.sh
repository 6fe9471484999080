#!/usr/bin/env bash
# MariadbCluster, the witness VM: the Galera arbitrator (garbd), a member that votes and stores
# nothing, so that two database VMs keep a primary component when either dies. TLS with the
# internal CA like the data nodes. Restarted when its configuration or certificate changed.
# platform-garb-watch restarts garbd while no data node is Primary (files/garb-watch.sh says why).
# Files: garb.default, garb-dropin.conf, ca.crt, host.crt, host.key (placeholder), garb-watch,
#        garb-watch.default, platform-garb-watch.{service,timer}.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages galera-arbitrator-4 curl
TLS=/etc/platform-garb/tls
# garbd runs as `nobody` (Debian's unit): the key is readable by its group only.
install -d -m 0755 -o root -g root /etc/platform-garb
install -d -m 0750 -o root -g nogroup "$TLS"
put ca.crt "$TLS/ca.crt" 0644 root:root
put host.crt "$TLS/host.crt" 0644 root:root
put host.key "$TLS/host.key" 0640 root:nogroup
put garb.default /etc/default/garb 0644 root:root
put garb-dropin.conf /etc/systemd/system/garb.service.d/platform.conf 0644 root:root
if file_changed /etc/systemd/system/garb.service.d/platform.conf; then systemctl daemon-reload; fi
restart=0
if file_changed "$TLS/ca.crt" "$TLS/host.crt" "$TLS/host.key" /etc/default/garb \
   /etc/systemd/system/garb.service.d/platform.conf; then restart=1; fi
ensure_service garb.service "$restart"

put garb-watch /usr/local/lib/platform-garb/garb-watch 0755 root:root
put garb-watch.default /etc/default/platform-garb-watch 0644 root:root
install_timer platform-garb-watch
