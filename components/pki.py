"""The platform's internal certificate authority (pulumi-tls), and one certificate per host.

One ECDSA P-256 CA signs a certificate per host that serves or consumes platform TLS (etcd peers
and clients, the Patroni REST API, PostgreSQL, PgBouncer). Each host certificate carries the host's
name and private address (plus `localhost`/127.0.0.1 for local health checks) as SANs and allows both
server and client authentication, because etcd peers, Patroni and pg_rewind act as both.

The CA certificate is public (a stack output); every private key is a Pulumi secret and reaches a
host only through a step's `secrets` (stdin), never its `files`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

from components.settings import Host

CA_VALIDITY_HOURS = 10 * 365 * 24
HOST_VALIDITY_HOURS = 3 * 365 * 24
# `pulumi up` re-issues a host certificate in its last 60 days; the steps install the new one.
EARLY_RENEWAL_HOURS = 60 * 24
HOST_USES = ["digital_signature", "key_encipherment", "server_auth", "client_auth"]


def secret(value: pulumi.Output[str]) -> pulumi.Output[str]:
    """The value as a Pulumi secret (a typed wrapper: the SDK's stub loses the type)."""
    out: pulumi.Output[str] = pulumi.Output.secret(value)  # type: ignore[arg-type]
    return out


@dataclass
class HostCert:
    host: Host
    cert_pem: pulumi.Output[str]
    key_pem: pulumi.Output[str]  # secret


class InternalCA(pulumi.ComponentResource):
    """`platform:pki:InternalCA`: a self-signed CA and the host certificates it issued."""

    cert_pem: pulumi.Output[str]

    def __init__(self, name: str, common_name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:pki:InternalCA", name, None, opts)
        self._name = name
        self._issued: dict[str, HostCert] = {}
        self.key = tls.PrivateKey(
            f"{name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256",
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["private_key_pem"]),
        )
        self.cert = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=secret(self.key.private_key_pem),
            is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(common_name=common_name, organization="platform"),
            validity_period_hours=CA_VALIDITY_HOURS,
            early_renewal_hours=EARLY_RENEWAL_HOURS,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.cert_pem = self.cert.cert_pem
        self.register_outputs({"certPem": self.cert_pem})

    def issue(self, host: Host) -> HostCert:
        """The host's certificate (issued once per host, shared by every service on it)."""
        if host.name in self._issued:
            return self._issued[host.name]
        child = pulumi.ResourceOptions(parent=self)
        key = tls.PrivateKey(
            f"{self._name}-{host.name}-key", algorithm="ECDSA", ecdsa_curve="P256",
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["private_key_pem"]),
        )
        key_pem = secret(key.private_key_pem)
        csr = tls.CertRequest(
            f"{self._name}-{host.name}-csr",
            private_key_pem=key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=host.name, organization="platform"),
            dns_names=sorted({host.name, "localhost"}),
            ip_addresses=sorted({host.private_ip, "127.0.0.1"}),
            opts=child,
        )
        cert = tls.LocallySignedCert(
            f"{self._name}-{host.name}-cert",
            cert_request_pem=csr.cert_request_pem,
            ca_private_key_pem=secret(self.key.private_key_pem),
            ca_cert_pem=self.cert.cert_pem,
            validity_period_hours=HOST_VALIDITY_HOURS,
            early_renewal_hours=EARLY_RENEWAL_HOURS,
            allowed_uses=HOST_USES,
            opts=child,
        )
        issued = HostCert(host=host, cert_pem=cert.cert_pem, key_pem=key_pem)
        self._issued[host.name] = issued
        return issued
