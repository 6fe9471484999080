"""s3cmd's configuration, shared by the components that copy backups to the bucket with it
(Redis RDB copies, MariaDB backups). Pure; the keys are `{{secret:...}}` placeholders."""

from __future__ import annotations

from urllib.parse import urlsplit

from components.plan import SECRET_S3_ACCESS, SECRET_S3_SECRET, placeholder
from components.settings import Settings


def render_s3cfg(settings: Settings, ca_path: str, header: str) -> str:
    """s3cmd's configuration (Debian 12 / Ubuntu 22.04, 24.04 package `s3cmd`); path-style URLs.
    `ca_path`: where the host keeps `s3.caCertificate` (used only when that is set)."""
    host = urlsplit(settings.s3.endpoint).netloc
    return "\n".join([
        header,
        "[default]",
        f"access_key = {placeholder(SECRET_S3_ACCESS)}",
        f"secret_key = {placeholder(SECRET_S3_SECRET)}",
        f"host_base = {host}",
        f"host_bucket = {host}",
        f"bucket_location = {settings.s3.region}",
        "use_https = True",
        "check_ssl_certificate = True",
        f"ca_certs_file = {ca_path if settings.s3.ca_certificate else ''}",
        "signature_v2 = False",
        "multipart_chunk_size_mb = 64",
        "",
    ])
