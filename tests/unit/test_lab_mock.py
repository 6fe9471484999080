"""The lab's mock of pulumi-tls and random: real keys and certificates, stable across applies."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scripts.lablib.apply import LabState, _tls

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


def test_state_reuses_values_until_inputs_change(tmp_path: Path) -> None:
    state = LabState(tmp_path / "state.json")
    a = state.get_or_create("random/x", "fp1", lambda: "first")
    b = LabState(tmp_path / "state.json").get_or_create("random/x", "fp1", lambda: "second")
    c = state.get_or_create("random/x", "fp2", lambda: "third")
    assert (a, b, c) == ("first", "first", "third")
    assert oct((tmp_path / "state.json").stat().st_mode & 0o777) == "0o600"
