"""Certificate watch: the blackbox exporter's modules (TLS from the first byte) and the targets
of the STARTTLS probe (PostgreSQL and PgBouncer speak TLS only after an SSLRequest, which the
blackbox exporter cannot send: files/tls-probe.sh uses `openssl s_client -starttls postgres`)."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from components.contract import STARTTLS_PROTOCOLS, TlsProbe
from components.monitoring import names as n
from components.systemd import oneshot_timer

HEADER = "# Rendered by the platform program (components/monitoring/render/probes.py); do not edit.\n"
PROBE_TIMER_SECONDS = 300


def render_blackbox() -> str:
    tls = {"ca_file": f"{n.PROMETHEUS_TLS}/ca.crt"}
    client = {**tls, "cert_file": f"{n.PROMETHEUS_TLS}/client.crt", "key_file": f"{n.PROMETHEUS_TLS}/client.key"}
    modules = {
        "tls": {"prober": "tcp", "timeout": "5s", "tcp": {"tls": True, "tls_config": tls,
                                                         "preferred_ip_protocol": "ip4"}},
        # etcd's client port asks for a client certificate from the platform CA.
        "tls_client": {"prober": "tcp", "timeout": "5s", "tcp": {"tls": True, "tls_config": client,
                                                                "preferred_ip_protocol": "ip4"}},
    }
    return HEADER + yaml.safe_dump({"modules": modules}, sort_keys=False, default_flow_style=False)


def render_blackbox_defaults() -> str:
    return ("# Rendered by the platform program (components/monitoring/render/probes.py).\n"
            f'ARGS="--config.file={n.BLACKBOX_CONFIG} --web.listen-address=127.0.0.1:{n.BLACKBOX_PORT}"\n')


def render_starttls_targets(probes: Sequence[TlsProbe]) -> str:
    """`service host address protocol` per line, for files/tls-probe.sh."""
    return "".join(f"{p.service} {p.host.name} {p.address()} {p.starttls}\n" for p in probes
                   if p.starttls in STARTTLS_PROTOCOLS)


def render_probe_units() -> dict[str, str]:
    service, timer = oneshot_timer(
        "# Rendered by the platform program (components/monitoring/render/probes.py).",
        "Certificates of the platform's PostgreSQL and PgBouncer endpoints (textfile metrics)",
        "/usr/local/lib/platform-monitoring/tls-probe", f"{PROBE_TIMER_SECONDS}s", boot="30s", accuracy="5s",
        after="network-online.target", timer_description="Probe the platform's STARTTLS certificates")
    return {"platform-tls-probe.service": service, "platform-tls-probe.timer": timer}
