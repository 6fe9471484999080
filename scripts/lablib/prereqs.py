"""Host prerequisites: the Debian packages the lab needs on the real machine."""

from __future__ import annotations

from pathlib import Path

from .util import LabError, log, run

# debootstrap: base image; systemd-container: systemd-nspawn; iproute2: bridge/netns/veth;
# openssh-client: ssh/ssh-keygen; dpkg-dev: dpkg-scanpackages; haproxy: TLS terminator for S3;
# openssl: lab CA; curl: probes; ca-certificates + debian-archive-keyring: mirror access.
HOST_PACKAGES = (
    "debootstrap",
    "systemd-container",
    "iproute2",
    "openssh-client",
    "dpkg-dev",
    "haproxy",
    "openssl",
    "curl",
    "ca-certificates",
    "debian-archive-keyring",
)

INOTIFY_MIN = 1024


def missing_packages(pkgs: tuple[str, ...] = HOST_PACKAGES) -> list[str]:
    cp = run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n", *pkgs], check=False)
    installed = {
        line.split()[0] for line in cp.stdout.splitlines() if len(line.split()) > 1 and line.split()[1] == "ii"
    }
    return [p for p in pkgs if p not in installed]


def ensure_packages() -> bool:
    """Install what is missing. Returns True when something was installed."""
    missing = missing_packages()
    if not missing:
        return False
    log("prereqs", f"installing {' '.join(missing)}")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if run(argv, check=False, env=env, timeout=900).returncode != 0:
        # Stale or absent index: refresh. Third-party sources on the machine may be unreachable,
        # which makes `apt-get update` exit non-zero although the Debian lists were refreshed.
        cp = run(["apt-get", "update", "-q"], check=False, env=env, timeout=600)
        if cp.returncode != 0:
            log("prereqs", "apt-get update reported errors (unreachable third-party sources?); continuing")
        run(argv, env=env, timeout=900)
    still = missing_packages()
    if still:
        raise LabError(f"host packages still missing: {' '.join(still)}")
    return True


def ensure_inotify() -> bool:
    """Each idle host uses ~8 inotify instances; the default limit (128) is shared by all of them."""
    p = Path("/proc/sys/fs/inotify/max_user_instances")
    cur = int(p.read_text().strip())
    if cur >= INOTIFY_MIN:
        return False
    p.write_text(f"{INOTIFY_MIN}\n")
    log("prereqs", f"fs.inotify.max_user_instances {cur} -> {INOTIFY_MIN}")
    return True


def ensure_prereqs() -> bool:
    changed = ensure_packages()
    changed = ensure_inotify() or changed
    return changed
