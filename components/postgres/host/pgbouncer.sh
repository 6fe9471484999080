#!/usr/bin/env bash
# PgBouncer on a database VM: port PGBOUNCER_PORT (a parameter), TLS for TCP clients, SCRAM, auth_query through the
# pgbouncer_auth role, its own socket directory. Params: PGBOUNCER_PORT. Files: pgbouncer.ini, userlist.txt,
# pgbouncer.tmpfiles, ca.crt, host.crt. Secrets: host_key, pgbouncer_auth_password,
# pg_monitoring_password.
set -euo pipefail
# shellcheck source=components/step_lib.sh
. "$STEP_DIR/lib.sh"

ensure_packages pgbouncer postgresql-client

put pgbouncer.tmpfiles /etc/tmpfiles.d/pgbouncer.conf 0644 root:root
if file_changed /etc/tmpfiles.d/pgbouncer.conf || [ ! -d /var/run/pgbouncer ]; then
  systemd-tmpfiles --create /etc/tmpfiles.d/pgbouncer.conf
fi

install -d -m 0750 -o postgres -g postgres /etc/pgbouncer/tls
put ca.crt /etc/pgbouncer/tls/ca.crt 0644 root:root
put host.crt /etc/pgbouncer/tls/host.crt 0644 root:root
install_secret host_key /etc/pgbouncer/tls/host.key 0600 postgres:postgres

# Listening sockets are bound at start only: a change there needs a restart, anything else a reload.
listen_conf() { grep -E '^(listen_addr|listen_port|unix_socket_dir|pidfile)' /etc/pgbouncer/pgbouncer.ini 2>/dev/null || true; }
before=$(listen_conf)
put userlist.txt /etc/pgbouncer/userlist.txt 0640 postgres:postgres
put pgbouncer.ini /etc/pgbouncer/pgbouncer.ini 0640 postgres:postgres

if ! systemctl is-enabled --quiet pgbouncer 2>/dev/null; then
  systemctl enable --quiet pgbouncer
  changed "enabled pgbouncer"
fi
if ! systemctl is-active --quiet pgbouncer; then
  systemctl start pgbouncer
  changed "started pgbouncer"
elif [ "$before" != "$(listen_conf)" ]; then
  systemctl restart pgbouncer
  changed "restarted pgbouncer"
elif file_changed /etc/pgbouncer/pgbouncer.ini /etc/pgbouncer/userlist.txt /etc/pgbouncer/tls/host.crt /etc/pgbouncer/tls/host.key; then
  systemctl reload pgbouncer
  changed "reloaded pgbouncer"
fi

if ! wait_until 30 1 "PgBouncer to accept connections" pg_isready -q -h 127.0.0.1 -p "$PGBOUNCER_PORT" -t 2; then
  journalctl -u pgbouncer -n 30 --no-pager >&2 || true
  die "PgBouncer does not accept connections on $PGBOUNCER_PORT"
fi
