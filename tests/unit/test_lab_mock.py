"""The lab's mock of pulumi-tls and random: real keys and certificates, stable across applies."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scripts.lablib.generate import tls_outputs as _tls

KEY = "tls:index/privateKey:PrivateKey"


def test_ca_and_host_certificate_verify_with_openssl(tmp_path: Path) -> None:
    ca_key = _tls(KEY, {"algorithm": "ECDSA", "ecdsaCurve": "P256"})
    ca = _tls("tls:index/selfSignedCert:SelfSignedCert", {
        "privateKeyPem": ca_key["privateKeyPem"], "subject": {"commonName": "platform CA"},
        "isCaCertificate": True, "allowedUses": ["cert_signing", "crl_signing"], "validityPeriodHours": 87600,
    })
    host_key = _tls(KEY, {"algorithm": "ECDSA", "ecdsaCurve": "P256"})
    csr = _tls("tls:index/certRequest:CertRequest", {
        "privateKeyPem": host_key["privateKeyPem"], "subject": {"commonName": "db-1"},
        "dnsNames": ["db-1"], "ipAddresses": ["198.18.0.11"],
    })
    cert = _tls("tls:index/locallySignedCert:LocallySignedCert", {
        "certRequestPem": csr["certRequestPem"], "caPrivateKeyPem": ca_key["privateKeyPem"],
        "caCertPem": ca["certPem"], "allowedUses": ["server_auth", "client_auth", "digital_signature"],
        "validityPeriodHours": 8760,
    })
    (tmp_path / "ca.pem").write_text(ca["certPem"])
    (tmp_path / "host.pem").write_text(cert["certPem"])
    proc = subprocess.run(["openssl", "verify", "-CAfile", "ca.pem", "-verify_ip", "198.18.0.11", "host.pem"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
