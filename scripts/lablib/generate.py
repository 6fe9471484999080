"""Generated values of the lab, as pulumi-random and pulumi-tls would make them: real passwords,
keys and certificates (the state keeps them; see scripts/lablib/state.py)."""

from __future__ import annotations

import datetime as dt
import secrets
import string
from typing import Any


class GenerateError(RuntimeError):
    pass


def random_password(inputs: dict[str, Any]) -> str:
    """random.RandomPassword's `result` for plain inputs (length, special, overrideSpecial)."""
    alphabet = string.ascii_letters + string.digits
    if inputs.get("special", True):
        alphabet += inputs.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?"
    length = int(inputs.get("length", 16))
    return "".join(secrets.choice(alphabet) for _ in range(length))


def tls_outputs(typ: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The computed outputs of a pulumi-tls resource (PEM strings) for plain inputs."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def load_key(pem: str) -> Any:
        return serialization.load_pem_private_key(pem.encode(), password=None)

    def name(subject: dict[str, Any] | None) -> x509.Name:
        subject = subject or {}
        attrs = []
        if subject.get("commonName"):
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, subject["commonName"]))
        if subject.get("organization"):
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject["organization"]))
        return x509.Name(attrs)

    def sans(i: dict[str, Any]) -> list[x509.GeneralName]:
        import ipaddress

        out: list[x509.GeneralName] = [x509.DNSName(d) for d in i.get("dnsNames") or []]
        out += [x509.IPAddress(ipaddress.ip_address(a)) for a in i.get("ipAddresses") or []]
        return out

    def build(
        subject: x509.Name,
        public_key: Any,
        issuer: x509.Name,
        signer: Any,
        i: dict[str, Any],
        names: list[x509.GeneralName],
        is_ca: bool,
    ) -> str:
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        hours = int(i.get("validityPeriodHours") or 8760)
        uses = set(i.get("allowedUses") or [])
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(hours=hours))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        )
        if names:
            b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature="digital_signature" in uses,
                content_commitment=False,
                key_encipherment="key_encipherment" in uses,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign="cert_signing" in uses,
                crl_sign="crl_signing" in uses,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        eku = [
            oid
            for use, oid in (
                ("server_auth", ExtendedKeyUsageOID.SERVER_AUTH),
                ("client_auth", ExtendedKeyUsageOID.CLIENT_AUTH),
            )
            if use in uses
        ]
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        cert = b.sign(signer, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    if typ == "tls:index/privateKey:PrivateKey":
        algo = inputs.get("algorithm", "RSA")
        if algo == "ECDSA":
            curve = {"P224": ec.SECP224R1(), "P256": ec.SECP256R1(), "P384": ec.SECP384R1(), "P521": ec.SECP521R1()}[
                inputs.get("ecdsaCurve", "P224")
            ]
            key: Any = ec.generate_private_key(curve)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
        elif algo == "RSA":
            key = rsa.generate_private_key(public_exponent=65537, key_size=int(inputs.get("rsaBits", 2048)))
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
        else:
            raise GenerateError(f"lab mock: tls PrivateKey algorithm {algo!r} is not supported")
        pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return {
            "privateKeyPem": pem.decode(),
            "publicKeyPem": pub.decode(),
            "privateKeyPemPkcs8": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
        }
    if typ == "tls:index/selfSignedCert:SelfSignedCert":
        key = load_key(inputs["privateKeyPem"])
        subject = name(inputs.get("subject"))
        return {
            "certPem": build(
                subject, key.public_key(), subject, key, inputs, sans(inputs), bool(inputs.get("isCaCertificate"))
            )
        }
    if typ == "tls:index/certRequest:CertRequest":
        key = load_key(inputs["privateKeyPem"])
        builder = x509.CertificateSigningRequestBuilder().subject_name(name(inputs.get("subject")))
        if sans(inputs):
            builder = builder.add_extension(x509.SubjectAlternativeName(sans(inputs)), critical=False)
        return {"certRequestPem": builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()}
    if typ == "tls:index/locallySignedCert:LocallySignedCert":
        csr = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
        ca_cert = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
        ca_key = load_key(inputs["caPrivateKeyPem"])
        try:
            names = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            names = []
        return {
            "certPem": build(
                csr.subject,
                csr.public_key(),
                ca_cert.subject,
                ca_key,
                inputs,
                names,
                bool(inputs.get("isCaCertificate")),
            )
        }
    raise GenerateError(f"lab mock: unsupported tls resource {typ}")

