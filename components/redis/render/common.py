"""Lines redis.conf and sentinel.conf share."""

from __future__ import annotations

from components.redis.names import Layout
from components.settings import Host, Settings


def _binds(host: Host) -> str:
    """The private address, plus loopback for the local tools (unless the address is loopback)."""
    if host.private_ip.startswith("127."):
        return host.private_ip
    return f"{host.private_ip} 127.0.0.1"


def _tls_lines(settings: Settings, port: int, layout: Layout) -> list[str]:
    if not settings.redis.tls:
        return [f"port {port}"]
    return [
        "# TLS only (redis.tls): no plaintext listener.",
        "port 0",
        f"tls-port {port}",
        f"tls-cert-file {layout.tls_dir}/redis.crt",
        f"tls-key-file {layout.tls_dir}/redis.key",
        f"tls-ca-cert-file {layout.tls_dir}/ca.crt",
        "tls-auth-clients optional",
        "tls-replication yes",
        "tls-protocols \"TLSv1.2 TLSv1.3\"",
    ]
