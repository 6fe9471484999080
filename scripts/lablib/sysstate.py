"""Read-only views of the machine's state (/proc, mountinfo, links, netns, cgroups) and
PID-exact process signalling with bounded waits."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .util import run

CGROUP_HIERARCHIES = ("systemd", "unified")
CGROUP_ROOT = Path("/sys/fs/cgroup")


# ---------------------------------------------------------------- processes


def pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    rest = raw[raw.rfind(")") + 2 :].split()
    return [raw[raw.find("(") + 1 : raw.rfind(")")], *rest]


def alive(pid: int) -> bool:
    """Running (zombies count as dead: PID 1 on this machine does not reap orphans)."""
    f = _stat_fields(pid)
    return f is not None and f[1] not in ("Z", "X")


def ppid(pid: int) -> int | None:
    f = _stat_fields(pid)
    return int(f[2]) if f else None


def comm(pid: int) -> str:
    f = _stat_fields(pid)
    return f[0] if f else ""


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]]


def _link(pid: int, what: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/{what}")
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return ""


def proc_root(pid: int) -> str:
    return _link(pid, "root")


def root_upperdir(pid: int) -> str:
    """upperdir of the overlay mounted at the process's root ("" if none). /proc/PID/root reads "/"
    for a process in another mount namespace, but its mountinfo names the overlay."""
    upper = ""
    try:
        with open(f"/proc/{pid}/mountinfo") as f:
            for line in f:
                left, _, right = line.rstrip("\n").partition(" - ")
                lf, rf = left.split(), right.split()
                if len(lf) > 4 and lf[4] == "/" and len(rf) > 2 and rf[0] == "overlay":
                    for opt in _unescape(rf[2]).split(","):
                        if opt.startswith("upperdir="):
                            upper = opt.split("=", 1)[1]
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        pass
    return upper


def proc_cwd(pid: int) -> str:
    return _link(pid, "cwd")


def nspid(pid: int) -> list[int]:
    """PIDs of the process in each nested PID namespace (outermost first)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return []


def children(pid: int) -> list[int]:
    return [p for p in pids() if ppid(p) == pid and alive(p)]


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
        pass
    return 0


def signal_pids(targets: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in targets:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_dead(targets: Iterable[int], timeout: float) -> list[int]:
    """Wait (bounded) until none of `targets` runs; return those still running."""
    left = list(targets)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        left = [p for p in left if alive(p)]
        if left:
            time.sleep(0.05)
    return [p for p in left if alive(p)]


# ---------------------------------------------------------------- mounts


@dataclass(frozen=True)
class Mount:
    mountpoint: str
    fstype: str
    source: str
    options: str  # super options (upperdir=..., lowerdir=... for overlay)


def _unescape(s: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mounts() -> list[Mount]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.rstrip("\n").partition(" - ")
            lf, rf = left.split(), right.split()
            if len(lf) < 5 or len(rf) < 2:
                continue
            out.append(Mount(_unescape(lf[4]), rf[0], _unescape(rf[1]), _unescape(rf[2]) if len(rf) > 2 else ""))
    return out


def overlay_opt(m: Mount, key: str) -> str:
    for opt in m.options.split(","):
        if opt.startswith(key + "="):
            return opt.split("=", 1)[1]
    return ""


def is_mountpoint(path: Path) -> bool:
    p = str(path)
    return any(m.mountpoint == p for m in mounts())


def umount(path: str, tries: int = 10) -> bool:
    """Unmount (retrying briefly while busy), lazily as the last resort. True when gone."""
    for _ in range(tries):
        if not any(m.mountpoint == path for m in mounts()):
            return True
        if run(["umount", path], check=False, timeout=30).returncode == 0:
            continue
        time.sleep(0.2)
    run(["umount", "-l", path], check=False, timeout=30)
    return not any(m.mountpoint == path for m in mounts())


# ---------------------------------------------------------------- network


def netns_names() -> list[str]:
    cp = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in cp.stdout.splitlines() if line.strip()]


def link_names() -> list[str]:
    cp = run(["ip", "-o", "link", "show"], check=False)
    out = []
    for line in cp.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            out.append(parts[1].strip().split("@", 1)[0])
    return out


def link_master(name: str) -> str:
    cp = run(["ip", "-o", "link", "show", "dev", name], check=False)
    m = re.search(r" master (\S+)", cp.stdout)
    return m.group(1) if m else ""


# ---------------------------------------------------------------- cgroups


def cgroup_dirs(rel: str) -> list[Path]:
    return [CGROUP_ROOT / h / rel for h in CGROUP_HIERARCHIES]


def cgroup_procs(rel: str) -> set[int]:
    """Every PID in the subtree `rel` of both hierarchies."""
    found: set[int] = set()
    for top in cgroup_dirs(rel):
        if not top.is_dir():
            continue
        for dirpath, _dirs, files in os.walk(top):
            if "cgroup.procs" in files:
                try:
                    found.update(int(x) for x in Path(dirpath, "cgroup.procs").read_text().split())
                except (FileNotFoundError, OSError, ValueError):
                    pass
    return found


def rmdir_cgroup(rel: str, timeout: float = 10) -> bool:
    """Remove the subtree `rel` in both hierarchies (children first); cgroups empty asynchronously
    after a kill, so retry within `timeout`. True when gone."""
    deadline = time.monotonic() + timeout
    while True:
        for top in cgroup_dirs(rel):
            if not top.is_dir():
                continue
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        if not any(d.is_dir() for d in cgroup_dirs(rel)) or time.monotonic() >= deadline:
            return not any(d.is_dir() for d in cgroup_dirs(rel))
        time.sleep(0.1)
