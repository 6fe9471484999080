#!/usr/bin/env bash
# Rendered by the platform program (components/monitoring/files/tls-probe.sh): the certificates of
# the endpoints that speak TLS only after a protocol's own upgrade request (PostgreSQL and PgBouncer:
# SSLRequest; MariaDB: the SSL flag of its handshake), which the blackbox exporter cannot send. For
# each `service host address protocol` of the targets file: a verified handshake (the platform CA)
# with `openssl s_client -starttls <protocol>`, and the certificate's notAfter, as node_exporter
# textfile metrics.
set -euo pipefail
TARGETS=${TARGETS:-/etc/prometheus/tls-probe.targets}
CA=${CA:-/etc/prometheus/tls/ca.crt}
TEXTFILE_DIR=${TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
  echo "# HELP platform_tls_probe_success 1 if a verified STARTTLS handshake succeeded."
  echo "# TYPE platform_tls_probe_success gauge"
  echo "# HELP platform_tls_cert_not_after_seconds notAfter of the certificate the endpoint serves."
  echo "# TYPE platform_tls_cert_not_after_seconds gauge"
} >"$out"
while read -r service host address protocol; do
  [ -n "$service" ] || continue
  labels="service=\"$service\",host=\"$host\",target=\"$address\""
  cert=$(timeout 10 openssl s_client -starttls "${protocol:-postgres}" -connect "$address" -CAfile "$CA" -verify_return_error \
    </dev/null 2>/dev/null | openssl x509 -noout -enddate 2>/dev/null || true)
  if [ -n "$cert" ]; then
    not_after=$(date -u -d "${cert#notAfter=}" +%s)
    echo "platform_tls_probe_success{$labels} 1" >>"$out"
    echo "platform_tls_cert_not_after_seconds{$labels} $not_after" >>"$out"
  else
    echo "platform_tls_probe_success{$labels} 0" >>"$out"
  fi
done <"$TARGETS"
install -d "$TEXTFILE_DIR"
install -m 0644 "$out" "$TEXTFILE_DIR/platform_tls_probe.prom.tmp"
mv -f "$TEXTFILE_DIR/platform_tls_probe.prom.tmp" "$TEXTFILE_DIR/platform_tls_probe.prom"
