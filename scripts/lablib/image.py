"""Lab SSH key and the shared base image (`.lab/base/bookworm`), cached by recipe hash."""

from __future__ import annotations

import inspect
import os
import re
import shutil
from pathlib import Path

from .util import LabError, lab_dir, log, read_stamp, run, sha256_text, write_file

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
INCLUDE = (
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "iproute2",
    "sudo",
    "python3",
    "ca-certificates",
    "curl",
    "perl",
    "procps",
    "less",
    "iputils-ping",
    "netcat-openbsd",
)
REPO_MOUNT = "/srv/labrepo"
DEPLOY_USER = "deploy"
# Nothing listens on 127.0.0.1:53 inside a host: lookups fail at once instead of hanging 10-20 s.
RESOLV_CONF = """\
# lab: no DNS; hosts resolve each other through /etc/hosts
nameserver 127.0.0.1
options timeout:1 attempts:1
"""
SSH_DROPIN = """\
# lab: the base image ships without host keys; each host makes its own on first boot.
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
"""


def key_path() -> Path:
    return lab_dir() / "keys" / "id_lab"


def base_dir() -> Path:
    return lab_dir() / "base" / SUITE


def ensure_key() -> bool:
    key = key_path()
    if key.exists() and key.with_suffix(".pub").exists():
        return False
    key.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(key.parent, 0o700)
    for p in (key, key.with_suffix(".pub")):
        p.unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab@plab", "-f", key])
    log("keys", f"generated {key}")
    return True


def public_key() -> str:
    return key_path().with_suffix(".pub").read_text().strip()


def _source_entries() -> list[tuple[str, list[str], list[str]]]:
    """(uri, suites, components) of every `deb` entry in the host's apt sources (both formats)."""
    entries: list[tuple[str, list[str], list[str]]] = []
    files = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for f in files:
        if not f.is_file():
            continue
        text = f.read_text(errors="replace")
        if f.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.strip()
                if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                    for uri in fields.get("uris", "").split():
                        entries.append((uri, fields.get("suites", "").split(), fields.get("components", "").split()))
        elif f.suffix == ".list":
            for raw in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", raw.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    entries.append((words[1], [words[2]], words[3:]))
    return entries


def mirror() -> str:
    """The Debian mirror configured on the host for `bookworm main` (what debootstrap and the repo use)."""
    for uri, suites, comps in _source_entries():
        if SUITE in suites and "main" in comps and "security" not in uri:
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def extra_suites() -> list[tuple[str, str]]:
    """(uri, suite) pairs for bookworm-updates / bookworm-security when the host lists them."""
    out: list[tuple[str, str]] = []
    for uri, suites, comps in _source_entries():
        for s in suites:
            if s in (f"{SUITE}-updates", f"{SUITE}-security") and "main" in comps and (uri, s) not in out:
                out.append((uri.rstrip("/"), s))
    return out


def _customize(root: Path, pubkey: str, ca_pem: str) -> None:
    """Turn a fresh debootstrap into the lab base. Part of the recipe hash (source text)."""
    apt = root / "etc/apt"
    write_file(apt / "sources.list", f"deb [trusted=yes] file:{REPO_MOUNT} ./\n")
    for p in (apt / "sources.list.d").glob("*"):
        p.unlink()
    for p in (root / "var/lib/apt/lists").glob("*"):
        if p.is_file():
            p.unlink()
    for p in (root / "var/cache/apt/archives").glob("*.deb"):
        p.unlink()
    (root / REPO_MOUNT.lstrip("/")).mkdir(parents=True, exist_ok=True)
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink():
        resolv.unlink()
    write_file(resolv, RESOLV_CONF)
    for p in (root / "etc/ssh").glob("ssh_host_*"):
        p.unlink()
    write_file(root / "etc/systemd/system/ssh.service.d/lab-hostkeys.conf", SSH_DROPIN)
    write_file(root / "etc/machine-id", "", 0o444)
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
    dbus_id.parent.mkdir(parents=True, exist_ok=True)
    dbus_id.symlink_to("/etc/machine-id")
    (root / "etc/hostname").unlink(missing_ok=True)
    if not (root / f"home/{DEPLOY_USER}").exists():
        run(["chroot", root, "useradd", "-m", "-s", "/bin/bash", "-G", "sudo", DEPLOY_USER])
    write_file(root / f"etc/sudoers.d/{DEPLOY_USER}", f"{DEPLOY_USER} ALL=(ALL) NOPASSWD:ALL\n", 0o440)
    # The lab CA (signs the S3 endpoint's certificate) is trusted system-wide, as a public CA is on a
    # real VM talking to a real S3 endpoint.
    ca = root / "usr/local/share/ca-certificates/plab-lab-ca.crt"
    if write_file(ca, ca_pem) or not (root / "etc/ssl/certs/plab-lab-ca.pem").exists():
        run(["chroot", root, "update-ca-certificates", "--fresh"])
    for home, owner in ((root / "root", "root"), (root / "home" / DEPLOY_USER, DEPLOY_USER)):
        ssh = home / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        write_file(ssh / "authorized_keys", pubkey + "\n", 0o600)
        run(["chroot", root, "chown", "-R", f"{owner}:{owner}", f"/{ssh.relative_to(root)}"])


def _ca_pem() -> str:
    from .s3 import ca_cert_path, ensure_ca

    ensure_ca()
    return ca_cert_path().read_text()


def _bootstrap_hash() -> str:
    return sha256_text(SUITE, mirror(), ",".join(INCLUDE))


def recipe_hash() -> str:
    """`<debootstrap hash> <customisation hash>`: a change of the latter only re-runs _customize."""
    custom = sha256_text(public_key(), _ca_pem(), RESOLV_CONF, SSH_DROPIN, inspect.getsource(_customize))
    return f"{_bootstrap_hash()} {custom}"


def _stamp() -> Path:
    return base_dir().parent / f"{SUITE}.stamp"


def base_is_current() -> bool:
    return (base_dir() / "etc/os-release").exists() and read_stamp(_stamp()) == recipe_hash()


def ensure_base() -> bool:
    """Build the base image unless the cached one matches the recipe. Returns True when changed.

    Refuses to change a base that lab hosts still use as their lower layer.
    """
    ensure_key()
    want = recipe_hash()
    if base_is_current():
        return False
    if _base_in_use():
        raise LabError("the base image must be rebuilt but lab hosts are using it: run `scripts/lab down` first")
    have = read_stamp(_stamp()).split()
    if (base_dir() / "etc/os-release").exists() and have and have[0] == _bootstrap_hash():
        log("image", "re-applying the lab customisation to the cached base")
        _customize(base_dir(), public_key(), _ca_pem())
        write_file(_stamp(), want + "\n")
        return True
    new = base_dir().with_name(f"{SUITE}.new")
    if new.exists():
        _assert_nothing_mounted_under(new)
        shutil.rmtree(new)
    new.parent.mkdir(parents=True, exist_ok=True)
    cache = lab_dir() / "cache" / "debootstrap"
    cache.mkdir(parents=True, exist_ok=True)
    src = mirror()
    log("image", f"debootstrap {SUITE} from {src} (one-off, ~100 s)")
    try:
        run(["debootstrap", f"--include={','.join(INCLUDE)}", f"--cache-dir={cache}", SUITE, new, src], timeout=1800)
    finally:
        _umount_under(new)
    _customize(new, public_key(), _ca_pem())
    old = base_dir().with_name(f"{SUITE}.old")
    if base_dir().exists():
        if old.exists():
            shutil.rmtree(old)
        base_dir().rename(old)
    new.rename(base_dir())
    if old.exists():
        shutil.rmtree(old)
    write_file(_stamp(), want + "\n")
    log("image", f"base image ready at {base_dir()}")
    return True


def _mountpoints() -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            out.append(line.split()[4].replace("\\040", " "))
    return out


def _umount_under(path: Path) -> None:
    prefix = str(path) + "/"
    for mp in sorted((m for m in _mountpoints() if m.startswith(prefix)), key=len, reverse=True):
        run(["umount", "-l", mp], check=False)


def _assert_nothing_mounted_under(path: Path) -> None:
    _umount_under(path)
    prefix = str(path) + "/"
    if any(m.startswith(prefix) for m in _mountpoints()):
        raise LabError(f"mounts remain under {path}")


def _base_in_use() -> bool:
    needle = f"lowerdir={base_dir()}"
    with open("/proc/self/mountinfo") as f:
        return any(needle in line for line in f)
