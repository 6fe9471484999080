# shellcheck shell=bash
# What the Grafana and Loki steps share (bundled as files/grafana-apt.sh, sourced after lib.sh):
# Grafana's apt repository (Grafana, Loki and Alloy have no Debian packages). Its key is fetched
# from apt.grafana.com on the VM, not pinned by fingerprint (README, Monitoring).

grafana_apt_repo() {
  local keyring=/etc/apt/keyrings/grafana.gpg
  ensure_packages curl gpg apt-transport-https ca-certificates
  if [ ! -s "$keyring" ]; then
    install -d -m 0755 /etc/apt/keyrings
    retry 3 5 curl -fsSL --max-time 60 -o "$STEP_DIR/grafana.key" https://apt.grafana.com/gpg.key
    gpg --dearmor <"$STEP_DIR/grafana.key" >"$STEP_DIR/grafana.gpg"
    put_content "$STEP_DIR/grafana.gpg" "$keyring" 0644 root:root
  fi
  printf 'deb [signed-by=%s] https://apt.grafana.com stable main\n' "$keyring" >"$STEP_DIR/grafana.list"
  if ! cmp -s "$STEP_DIR/grafana.list" /etc/apt/sources.list.d/grafana.list 2>/dev/null; then
    put_content "$STEP_DIR/grafana.list" /etc/apt/sources.list.d/grafana.list 0644 root:root
    # shellcheck disable=SC2034  # read by ensure_packages (lib.sh)
    STEP_APT_UPDATED=0  # the new repository needs an index
  fi
}
