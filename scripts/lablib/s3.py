"""Lab S3: moto server on loopback behind an haproxy TLS terminator on the bridge
(https://198.18.0.1:9443, certificate for IP 198.18.0.1 and s3.lab signed by the lab CA).

Both run in the background with their PIDs in `.lab/pids/` and their working directory in
`.lab/s3/` (how leftovers of another checkout are recognised); `down` kills them by PID.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from . import children
from . import sysstate as ss
from .inventory import GATEWAY
from .util import LabError, lab_dir, log, repo_root, run, wait_until, write_file

TLS_PORT = 9443
MOTO_PORT = 9480
REGION = "us-east-1"
# Lab-only credentials (moto accepts any); kept in .lab/s3.json, never printed.
_ACCESS_KEY = "PLABLABACCESSKEY0001"
_SECRET_KEY = "plab-lab-only-secret-not-used-anywhere-0"
SERVICES = ("moto", "haproxy")



def s3_dir() -> Path:
    return lab_dir() / "s3"


def ca_dir() -> Path:
    return lab_dir() / "ca"


def ca_cert_path() -> Path:
    return ca_dir() / "ca.crt"


def s3_endpoint() -> str:
    """HTTPS endpoint as the lab hosts see it (verify with ca_cert_path())."""
    return f"https://{GATEWAY}:{TLS_PORT}"


def s3_local_endpoint() -> str:
    """Plain-HTTP endpoint on loopback, for tools on the real machine."""
    return f"http://127.0.0.1:{MOTO_PORT}"


def s3_credentials() -> tuple[str, str]:
    data = json.loads(ensure_credentials().read_text())
    return data["access_key"], data["secret_key"]


def client() -> Any:
    """boto3 S3 client for the lab's S3 server, on loopback, with the lab's key pair."""
    import boto3

    access, secret = s3_credentials()
    return boto3.client("s3", endpoint_url=s3_local_endpoint(), aws_access_key_id=access,
                        aws_secret_access_key=secret, region_name="us-east-1")


def ensure_credentials() -> Path:
    p = lab_dir() / "s3.json"
    doc = {
        "access_key": _ACCESS_KEY,
        "secret_key": _SECRET_KEY,
        "region": REGION,
        "endpoint": s3_endpoint(),
        "local_endpoint": s3_local_endpoint(),
        "ca_cert": str(ca_cert_path()),
    }
    write_file(p, json.dumps(doc, indent=2) + "\n", 0o600)
    return p


# ---------------------------------------------------------------- lab CA and server certificate


def ensure_ca() -> bool:
    """Lab CA (key stays in .lab/ca) and the S3 server certificate. True when something was made."""
    d = ca_dir()
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    key, crt = d / "ca.key", d / "ca.crt"
    changed = False
    if not (key.exists() and crt.exists()):
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key])
        os.chmod(key, 0o600)
        run(
            ["openssl", "req", "-x509", "-new", "-key", str(key), "-sha256", "-days", "3650"]
            + ["-subj", "/CN=plab lab CA", "-addext", "basicConstraints=critical,CA:TRUE"]
            + ["-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(crt)]
        )
        os.chmod(crt, 0o644)
        (s3_dir() / "server.pem").unlink(missing_ok=True)
        changed = True
        log("s3", f"created lab CA {crt}")
    pem = s3_dir() / "server.pem"
    s3_dir().mkdir(parents=True, exist_ok=True)
    skey, csr, scrt, ext = (s3_dir() / n for n in ("server.key", "server.csr", "server.crt", "server.ext"))
    # The address also as a DNS name: pgBackRest (2.45) matches its endpoint only against DNS SANs.
    ext_changed = write_file(
        ext,
        f"subjectAltName=IP:{GATEWAY},DNS:{GATEWAY},DNS:s3.lab,DNS:labhost.lab\n"
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    if ext_changed or not pem.exists() or not _cert_valid(pem):
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", skey])
        run(["openssl", "req", "-new", "-key", skey, "-subj", "/CN=s3.lab", "-out", csr])
        run(
            ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(crt), "-CAkey", str(key), "-CAcreateserial"]
            + ["-days", "825", "-sha256", "-extfile", str(ext), "-out", str(scrt)]
        )
        write_file(pem, scrt.read_text() + skey.read_text(), 0o600)
        for p in (skey, csr):
            p.unlink()
        changed = True
    return changed


def _cert_valid(pem: Path) -> bool:
    return (
        run(["openssl", "x509", "-checkend", "86400", "-noout", "-in", pem], check=False).returncode == 0
        and run(["openssl", "verify", "-CAfile", ca_cert_path(), pem], check=False).returncode == 0
    )


# ---------------------------------------------------------------- processes


def _pid_path(svc: str) -> Path:
    return lab_dir() / "pids" / f"s3-{svc}.pid"


def _marker(svc: str) -> str:
    return "moto_server" if svc == "moto" else "haproxy"


def _is_s3_proc(pid: int, svc: str) -> bool:
    cwd = ss.proc_cwd(pid).removesuffix(" (deleted)")
    return ss.alive(pid) and cwd.endswith("/.lab/s3") and any(_marker(svc) in a for a in ss.cmdline(pid)[:3])


def service_pid(svc: str) -> int | None:
    try:
        pid = int(_pid_path(svc).read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    if _is_s3_proc(pid, svc) and ss.proc_cwd(pid).removesuffix(" (deleted)") == str(s3_dir()):
        return pid
    return None


def instance_id() -> str | None:
    """Identity of the running S3 server (a new one has no buckets), None when it does not run."""
    pid = service_pid("moto")
    try:
        recorded_pid, ident = (s3_dir() / "instance").read_text().split()
    except (FileNotFoundError, ValueError):
        return None
    return ident if pid is not None and str(pid) == recorded_pid else None


def healthy() -> bool:
    if any(service_pid(s) is None for s in SERVICES):
        return False
    ctx = ssl.create_default_context(cafile=str(ca_cert_path()))
    try:
        with urllib.request.urlopen(s3_endpoint() + "/", timeout=3, context=ctx) as r:
            return r.status == 200
    except OSError:
        return False


def _moto_ready() -> bool:
    try:
        with urllib.request.urlopen(s3_local_endpoint() + "/", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _haproxy_cfg() -> str:
    return f"""\
# lab S3 TLS terminator (scripts/lablib/s3.py)
global
    maxconn 1024
    nbthread 1

defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-request 30s

frontend s3_tls
    bind {GATEWAY}:{TLS_PORT} ssl crt {s3_dir() / "server.pem"} alpn http/1.1
    default_backend moto

backend moto
    server moto 127.0.0.1:{MOTO_PORT}
"""


def _spawn(svc: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    with open(s3_dir() / f"{svc}.log", "ab") as logf:
        proc = subprocess.Popen(
            argv,
            cwd=s3_dir(),
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    children.register(svc, proc)
    write_file(_pid_path(svc), f"{proc.pid}\n")
    return proc.pid


def _moto_bin() -> str:
    cand = repo_root() / ".venv" / "bin" / "moto_server"
    if cand.exists():
        return str(cand)
    found = shutil.which("moto_server")
    if not found:
        raise LabError("moto_server not found (pip install 'moto[server]' into .venv)")
    return found


def s3_up() -> bool:
    """Start moto and the TLS terminator unless this checkout's pair already serves. True when started."""
    ensure_credentials()
    changed = ensure_ca()
    if not changed and healthy():
        return False
    s3_down(all_checkouts=True)
    s3_dir().mkdir(parents=True, exist_ok=True)
    # Path-style addressing only: with a dotted Host (s3.lab, 198.18.0.1) moto would otherwise
    # take the first label for a bucket name.
    pid = _spawn("moto", [_moto_bin(), "-H", "127.0.0.1", "-p", str(MOTO_PORT)],
                 {"S3_IGNORE_SUBDOMAIN_BUCKETNAME": "true"})
    # moto keeps its buckets in memory: the lab state ties its bucket records to this instance.
    write_file(s3_dir() / "instance", f"{pid} {uuid.uuid4().hex}\n")
    if not wait_until(_moto_ready, 30, 0.2):
        raise LabError(f"moto did not answer on {s3_local_endpoint()}; see {s3_dir() / 'moto.log'}")
    cfg = s3_dir() / "haproxy.cfg"
    write_file(cfg, _haproxy_cfg())
    run(["haproxy", "-c", "-q", "-f", cfg])
    _spawn("haproxy", ["haproxy", "-db", "-f", str(cfg)])
    if not wait_until(healthy, 15, 0.2):
        raise LabError(f"S3 not reachable at {s3_endpoint()}; see {s3_dir() / 'haproxy.log'}")
    log("s3", f"S3 serving at {s3_endpoint()} (CA {ca_cert_path()})")
    return True


def s3_down(all_checkouts: bool = False) -> list[str]:
    """Kill this checkout's S3 processes by PID (with all_checkouts also leftovers of others)."""
    targets: list[int] = []
    for svc in SERVICES:
        pid = service_pid(svc)
        if pid is not None:
            targets.append(pid)
    if all_checkouts:
        for pid in ss.pids():
            if pid not in targets and any(_is_s3_proc(pid, s) for s in SERVICES):
                targets.append(pid)
    children.kill(targets, "S3")
    for svc in SERVICES:
        _pid_path(svc).unlink(missing_ok=True)
        children.reap(svc)
    return [f"process {p}" for p in targets]
