"""Apply a stack to real hosts without the Pulumi CLI: the program runs under Pulumi's mocks
interface, and this mock *performs* every resource that touches the outside world.

- `command:remote:Command`: the bootstrap command line runs over SSH with the step's stdin, exactly
  as pulumi-command would run it; a non-zero exit stops the run with host, step and the script's
  own error output (secret values masked).
- `random:*:RandomPassword`, `tls:*`: generated here and kept in `.lab/state.json` (mode 0600), so
  a second apply reuses them and converged hosts see identical files.
- `aws:s3/bucket:Bucket`: created on the lab's S3 server.

Ordering and parallelism are the SDK's own (a resource's `new_resource` runs only after all it
depends on have returned), as under `pulumi up`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import string
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi.runtime import mocks as pmocks

from scripts.program import run_program, stack_config, unwrap

STATUS_PREFIX = "platform-step:"
STEP_TIMEOUT = 900  # seconds; the slowest step (package installs) takes well under this


class StepFailed(RuntimeError):
    pass


@dataclass
class StepResult:
    name: str
    host: str
    status: str  # "changed" | "unchanged" | "failed"
    detail: str
    seconds: float


@dataclass
class ApplyReport:
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def changed(self) -> int:
        return sum(1 for s in self.steps if s.status == "changed")

    @property
    def failed(self) -> int:
        return sum(1 for s in self.steps if s.status == "failed") + (
            1 if self.error and not any(s.status == "failed" for s in self.steps) else 0
        )


class LabState:
    """Generated values of the lab (passwords, keys, certificates), persisted between applies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def get_or_create(self, key: str, fingerprint: str, make: Any) -> Any:
        with self._lock:
            entry = self.data.get(key)
            if entry is not None and entry.get("fingerprint") == fingerprint:
                return entry["value"]
        value = make()
        with self._lock:
            self.data[key] = {"fingerprint": fingerprint, "value": value}
            self._save()
        return value

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        tmp.replace(self.path)


def _fingerprint(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(unwrap(inputs), sort_keys=True).encode()).hexdigest()


def _mask(text: str, secret_values: list[str]) -> str:
    for s in sorted(secret_values, key=len, reverse=True):
        if len(s) >= 4:
            text = text.replace(s, "***")
    return text


# --- TLS, as pulumi-tls would do it ----------------------------------------------------------


def _tls(typ: str, inputs: dict[str, Any]) -> dict[str, Any]:
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
            raise StepFailed(f"lab mock: tls PrivateKey algorithm {algo!r} is not supported")
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
    raise StepFailed(f"lab mock: unsupported tls resource {typ}")


# --- the mock ---------------------------------------------------------------------------------


class LabMocks(pmocks.Mocks):
    def __init__(
        self, state: LabState, report: ApplyReport, ip_to_name: dict[str, str], s3: dict[str, str], ca_file: str | None
    ) -> None:
        self.state = state
        self.report = report
        self.ip_to_name = ip_to_name
        self.s3 = s3
        self.ca_file = ca_file
        self.t0 = time.monotonic()
        self._lock = threading.Lock()

    def call(self, args: pmocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        typ, inputs = args.typ, args.inputs
        outputs = dict(inputs)
        if typ == "command:remote:Command":
            outputs.update(self._command(args.name, inputs))
        elif typ == "random:index/randomPassword:RandomPassword":
            plain = unwrap(inputs)
            alphabet = string.ascii_letters + string.digits
            if plain.get("special", True):
                alphabet += plain.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?"
            length = int(plain.get("length", 16))
            outputs["result"] = self.state.get_or_create(
                f"random/{args.name}",
                _fingerprint(inputs),
                lambda: "".join(secrets.choice(alphabet) for _ in range(length)),
            )
        elif typ.startswith("tls:index/"):
            outputs.update(
                self.state.get_or_create(
                    f"tls/{typ}/{args.name}", _fingerprint(inputs), lambda: _tls(typ, unwrap(inputs))
                )
            )
        elif typ == "aws:s3/bucket:Bucket":
            bucket = unwrap(inputs).get("bucket") or args.name
            self._ensure_bucket(bucket)
            outputs.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}", id=bucket)
            return bucket, outputs
        return f"{args.name}-id", outputs

    def _ensure_bucket(self, bucket: str) -> None:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.s3["endpoint"],
            aws_access_key_id=self.s3["access_key"],
            aws_secret_access_key=self.s3["secret_key"],
            region_name="us-east-1",
            verify=self.ca_file or True,
        )
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
            self._log(f"bucket {bucket}: created")

    def _log(self, msg: str) -> None:
        with self._lock:
            print(f"[{time.monotonic() - self.t0:7.1f}s] {msg}", flush=True)

    def _command(self, name: str, inputs: dict[str, Any]) -> dict[str, str]:
        conn = unwrap(inputs["connection"])
        host = conn["host"]
        host_name = self.ip_to_name.get(host, host)
        stdin = unwrap(inputs.get("stdin", ""))
        from components.remote import read_bundle

        secret_values = [conn.get("privateKey", "")]
        if stdin:
            secret_values += [v for k, v in read_bundle(stdin).items() if k.startswith("secrets/")]
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="lab-apply-") as tmp:
            key = Path(tmp) / "key"
            fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(conn["privateKey"].rstrip("\n") + "\n")
            argv = [
                "ssh",
                "-i",
                str(key),
                "-p",
                str(int(conn.get("port", 22))),
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                f"ConnectTimeout={int(conn.get('perDialTimeout', 15))}",
                f"{conn['user']}@{host}",
                inputs["create"],
            ]
            attempts = max(1, int(conn.get("dialErrorLimit", 10)))
            for attempt in range(1, attempts + 1):
                try:
                    proc = subprocess.run(argv, input=stdin, text=True, capture_output=True, timeout=STEP_TIMEOUT)
                except subprocess.TimeoutExpired as e:
                    self._fail(
                        name, host_name, started, f"timed out after {STEP_TIMEOUT}s", str(e.stderr or ""), secret_values
                    )
                # 255 = ssh itself failed (dial); retried like pulumi-command's dialErrorLimit.
                if proc.returncode != 255 or attempt == attempts:
                    break
                time.sleep(min(2.0 * attempt, 5.0))
        if proc.returncode != 0:
            self._fail(name, host_name, started, f"exit {proc.returncode}", proc.stderr + proc.stdout, secret_values)
        last = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith(STATUS_PREFIX)), None)
        if last is None:
            self._fail(name, host_name, started, "no status line", proc.stderr + proc.stdout, secret_values)
        assert last is not None
        detail = last[len(STATUS_PREFIX) :].strip()
        status = "unchanged" if detail == "unchanged" else "changed"
        res = StepResult(name, host_name, status, _mask(detail, secret_values), time.monotonic() - started)
        with self._lock:
            self.report.steps.append(res)
        self._log(f"{name:<28} {host_name:<8} {res.detail[:110]} ({res.seconds:.1f}s)")
        return {"stdout": proc.stdout, "stderr": proc.stderr}

    def _fail(self, name: str, host: str, started: float, why: str, output: str, secret_values: list[str]) -> None:
        tail = "\n".join(_mask(output, secret_values).strip().splitlines()[-25:])
        with self._lock:
            self.report.steps.append(StepResult(name, host, "failed", why, time.monotonic() - started))
        msg = f"step {name} on {host} failed ({why}):\n{tail}"
        self._log(f"FAILED {msg}")
        raise StepFailed(msg)


# --- entry point ------------------------------------------------------------------------------


def lab_config(stack: str = "lab") -> tuple[dict[str, Any], dict[str, str], dict[str, str], str | None]:
    """The lab stack's config with the lab's CA merged in, its secrets, and S3 access for the mock."""
    from scripts.lablib import s3 as lab_s3
    from scripts.lablib.image import key_path

    cfg = stack_config(stack)
    ca_file = str(lab_s3.ca_cert_path())
    cfg["s3"] = dict(cfg.get("s3") or {}, caCertificate=Path(ca_file).read_text())
    access, secret = lab_s3.s3_credentials()
    secret_cfg = {
        "sshPrivateKey": key_path().read_text(),
        "s3AccessKey": access,
        "s3SecretKey": secret,
    }
    s3 = {"endpoint": lab_s3.s3_endpoint(), "access_key": access, "secret_key": secret}
    return cfg, secret_cfg, s3, ca_file


def apply_stack(stack: str = "lab") -> ApplyReport:
    from scripts.lablib.util import lab_dir

    report = ApplyReport()
    started = time.monotonic()
    cfg, secret_cfg, s3, ca_file = lab_config(stack)
    hosts = cfg.get("hosts") or {}
    ip_to_name = {h.get("publicIp", h["privateIp"]): h["name"] for role in hosts.values() for h in role}
    state = LabState(lab_dir() / "state.json")
    mocks = LabMocks(state, report, ip_to_name, s3, ca_file)
    try:
        run = run_program(stack, cfg, secrets=secret_cfg, mocks=mocks)
        state.data["outputs"] = {"fingerprint": "", "value": run.outputs}
        state._save()  # noqa: SLF001
    except Exception as e:  # noqa: BLE001 - reported with host/step, then the run stops
        report.error = str(e)
        print(f"apply: {e}", file=sys.stderr, flush=True)
    report.seconds = time.monotonic() - started
    return report


def saved_outputs() -> dict[str, Any]:
    """The stack outputs of the last successful lab apply (wire form: secrets wrapped)."""
    from scripts.lablib.util import lab_dir

    path = lab_dir() / "state.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    return data.get("outputs", {}).get("value", {})  # type: ignore[no-any-return]
