"""Lab hosts: systemd-nspawn --boot containers on per-host overlayfs roots, each in its own network
namespace with a veth into the `plabbr0` bridge (198.18.0.1/24 on the real machine).

Everything the lab creates on the machine carries a `plab` name (bridge plabbr0, netns/veth/machine
plab-<host>, cgroups plab/<host>) or lives under a `.lab/` folder, which is how stale state of a
killed session - of this checkout or another one - is recognised and cleared.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import children
from . import sysstate as ss
from .aptrepo import repo_dir
from .image import REPO_MOUNT, base_dir
from .inventory import GATEWAY, NET, LabHost, hosts
from .naming import (  # noqa: F401 (re-exported: scripts.lablib.api)
    BRIDGE,
    CGROUP_PARENT,
    PREFIX,
    WRAPPER_TAG,
    cgroup_rel,
    host_dir,
    machine,
    netns,
    pid_file,
    root_dir,
    veth,
)
from .ssh import ssh_argv
from .sweep import Sweep, rm_nspawn_lock, rm_propagate, sweep
from .util import LabError, log, run, write_file

MAX_REBOOTS = 20
# $0 = plab-wrapper, $1 = host name, $2... = the systemd-nspawn command line.
# Joins the host's own cgroups, then runs nspawn; exit 133 = reboot requested -> start again (bounded).
WRAPPER = """\
name=$1
shift
for h in systemd unified; do
  echo "$$" > "/sys/fs/cgroup/$h/plab/$name/cgroup.procs" || exit 97
done
i=0
while [ "$i" -lt MAX_REBOOTS ]; do
  "$@"
  rc=$?
  [ "$rc" -eq 133 ] || exit "$rc"
  i=$((i + 1))
  echo "plab-wrapper: $name rebooted ($i)"
done
exit 133
""".replace("MAX_REBOOTS", str(MAX_REBOOTS))



# ---------------------------------------------------------------- host state


def wrapper_pid(name: str) -> int | None:
    """PID of the host's wrapper (sh running nspawn) when it runs and really is that wrapper."""
    try:
        pid = int(pid_file(name).read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    cmd = ss.cmdline(pid)
    if ss.alive(pid) and WRAPPER_TAG in cmd[:5] and f"--directory={root_dir(name)}" in cmd:
        return pid
    return None


def nspawn_pid(name: str) -> int | None:
    w = wrapper_pid(name)
    if w is None:
        return None
    for c in ss.children(w):
        if ss.comm(c) == "systemd-nspawn":
            return c
    return None


def host_pid(name: str) -> int | None:
    """PID (on the real machine) of the host's init (systemd), or None when it is not running."""
    for pid in sorted(ss.cgroup_procs(cgroup_rel(name))):
        ns = ss.nspid(pid)
        if len(ns) > 1 and ns[-1] == 1 and ss.alive(pid):
            return pid
    return None


def memory_mib(name: str) -> float:
    """Proportional set size of every process of the host (MiB)."""
    return sum(ss.pss_kib(p) for p in ss.cgroup_procs(cgroup_rel(name))) / 1024


def is_running(h: LabHost) -> bool:
    """This checkout's host is booted on the current base with its network in place."""
    if wrapper_pid(h.name) is None or host_pid(h.name) is None:
        return False
    mnt = [m for m in ss.mounts() if m.mountpoint == str(root_dir(h.name))]
    if not mnt or ss.overlay_opt(mnt[-1], "lowerdir") != str(base_dir()):
        return False
    if netns(h.name) not in ss.netns_names() or ss.link_master(veth(h.name)) != BRIDGE:
        return False
    cp = run(["ip", "-n", netns(h.name), "-o", "-4", "addr", "show", "dev", "eth0"], check=False)
    return f" {h.ip}/" in cp.stdout


def ssh_ok(h: LabHost, timeout: float = 8) -> bool:
    try:
        with socket.create_connection((h.ip, 22), timeout=1):
            pass
    except OSError:
        return False
    try:
        cp = subprocess.run([*ssh_argv(h.ip), "true"], capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return False
    return cp.returncode == 0


# ---------------------------------------------------------------- network


def bridge_up() -> bool:
    changed = False
    if BRIDGE not in ss.link_names():
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        changed = True
    cp = run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE])
    if f" {GATEWAY}/{NET.prefixlen}" not in cp.stdout:
        run(["ip", "addr", "add", f"{GATEWAY}/{NET.prefixlen}", "dev", BRIDGE])
        changed = True
    run(["ip", "link", "set", BRIDGE, "up"])
    return changed


# ---------------------------------------------------------------- create / boot / stop / destroy


def hosts_file(all_hosts: Iterable[LabHost]) -> str:
    lines = [
        "127.0.0.1 localhost",
        "::1 localhost ip6-localhost ip6-loopback",
        "ff02::1 ip6-allnodes",
        "ff02::2 ip6-allrouters",
        "",
        "# lab (scripts/lab): the real machine and every lab host",
        f"{GATEWAY} s3.lab labhost.lab labhost",
    ]
    lines += [f"{h.ip} {h.name}.lab {h.name}" for h in all_hosts]
    return "\n".join(lines) + "\n"


def create(h: LabHost, all_hosts: list[LabHost]) -> None:
    """Overlay root with the host's identity in its upper layer, netns and veth. Not booted yet."""
    d = host_dir(h.name)
    if d.exists():
        if any(m.mountpoint.startswith(str(d) + "/") for m in ss.mounts()):
            raise LabError(f"{h.name}: {d} still has mounts; run `scripts/lab down`")
        shutil.rmtree(d)
    upper, work, root = d / "upper", d / "work", d / "root"
    for p in (upper / "etc", work, root):
        p.mkdir(parents=True)
    write_file(upper / "etc/hostname", h.name + "\n")
    write_file(upper / "etc/hosts", hosts_file(all_hosts))
    write_file(upper / "etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
    run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={base_dir()},upperdir={upper},workdir={work}", root])
    ns, v = netns(h.name), veth(h.name)
    run(["ip", "netns", "add", ns])
    run(["ip", "link", "add", v, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "link", "set", v, "master", BRIDGE, "up"])
    run(["ip", "-n", ns, "addr", "add", f"{h.ip}/{NET.prefixlen}", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    # Nothing leaves the bridge: the real machine does not forward (ip_forward=0).
    run(["ip", "-n", ns, "route", "add", "default", "via", GATEWAY])


def boot(h: LabHost) -> int:
    """Start the host's init under systemd-nspawn (background, own session). Returns the wrapper PID."""
    if wrapper_pid(h.name) is not None:
        raise LabError(f"{h.name} is already running")
    for d in ss.cgroup_dirs(cgroup_rel(h.name)):
        d.mkdir(parents=True, exist_ok=True)
    argv = [
        "sh",
        "-c",
        WRAPPER,
        WRAPPER_TAG,
        h.name,
        "systemd-nspawn",
        "--quiet",
        "--boot",
        "--register=no",
        "--keep-unit",
        f"--directory={root_dir(h.name)}",
        f"--machine={machine(h.name)}",
        f"--hostname={h.name}",
        f"--network-namespace-path=/run/netns/{netns(h.name)}",
        "--private-network",
        f"--bind-ro={repo_dir()}:{REPO_MOUNT}",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--console=passive",
    ]
    with open(host_dir(h.name) / "nspawn.log", "ab") as logf:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True
        )
    children.register(h.name, proc)
    write_file(pid_file(h.name), f"{proc.pid}\n")
    return proc.pid


def stop(name: str, graceful: bool = False, timeout: float = 60) -> None:
    """Stop a host's processes (its disk - the overlay upper layer - and network stay).

    graceful: SIGTERM to nspawn = orderly poweroff, bounded by `timeout`, then KILL.
    Otherwise KILL (a crash as seen from the other hosts; ~0.3 s).
    """
    w = wrapper_pid(name)
    n = nspawn_pid(name)
    if graceful and n is not None and w is not None:
        ss.signal_pids([n], signal.SIGTERM)
        ss.wait_dead([w], timeout)
    if n is not None:
        ss.signal_pids([n])  # the wrapper sees 137 (not 133) and exits
    if w is not None and ss.wait_dead([w], 2):
        ss.signal_pids([w])
    # Whatever is left in the host's cgroups belongs to it (the container dies with its init).
    for _ in range(3):
        left = [p for p in ss.cgroup_procs(cgroup_rel(name)) if ss.alive(p)]
        if not left:
            break
        ss.signal_pids(left)
        ss.wait_dead(left, 5)
    children.reap(name)
    pid_file(name).unlink(missing_ok=True)
    if any(ss.alive(p) for p in ss.cgroup_procs(cgroup_rel(name))):
        raise LabError(f"{name}: processes survive in cgroup {cgroup_rel(name)}")


def pause(name: str, sig: int = signal.SIGSTOP) -> list[int]:
    """SIGSTOP every process of a running host (its init and all below it: a VM its hypervisor
    paused, as its peers see it); `resume` sends SIGCONT. Returns the PIDs signalled."""
    outside = {p for p in (wrapper_pid(name), nspawn_pid(name)) if p is not None}
    pids = sorted(p for p in ss.cgroup_procs(cgroup_rel(name)) if p not in outside and ss.alive(p))
    if not pids:
        raise LabError(f"{name}: no running processes to signal")
    ss.signal_pids(pids, sig)
    return pids


def resume(name: str) -> list[int]:
    return pause(name, signal.SIGCONT)


def start(h: LabHost) -> int:
    """Boot a stopped host again on its existing disk (after `stop`)."""
    if not ss.is_mountpoint(root_dir(h.name)):
        raise LabError(f"{h.name} has no root mounted; use hosts-up")
    return boot(h)


def destroy(name: str) -> list[str]:
    """Remove one host of this checkout completely. Returns what was removed."""
    done: list[str] = []
    if wrapper_pid(name) is not None or ss.cgroup_procs(cgroup_rel(name)):
        stop(name)
        done.append(f"processes of {name}")
    if ss.rmdir_cgroup(cgroup_rel(name)) is False:
        raise LabError(f"cannot remove cgroup {cgroup_rel(name)}")
    for m in sorted(
        (m for m in ss.mounts() if m.mountpoint.startswith(str(host_dir(name)) + "/")), key=lambda m: -len(m.mountpoint)
    ):
        rm_nspawn_lock(m.mountpoint)
        if not ss.umount(m.mountpoint):
            raise LabError(f"cannot unmount {m.mountpoint}")
        done.append(f"mount {m.mountpoint}")
    if netns(name) in ss.netns_names():
        run(["ip", "netns", "del", netns(name)])
        done.append(f"netns {netns(name)}")
    if veth(name) in ss.link_names():
        run(["ip", "link", "del", veth(name)], check=False)
        done.append(f"link {veth(name)}")
    rm_propagate(machine(name))
    if host_dir(name).exists():
        shutil.rmtree(host_dir(name))
    pid_file(name).unlink(missing_ok=True)
    return done


# ---------------------------------------------------------------- up / down


def wait_ssh(targets: list[LabHost], timeout: float) -> list[str]:
    """Wait (bounded) until ssh as deploy works on every host; return the names that never did."""
    deadline = time.monotonic() + timeout

    def one(h: LabHost) -> str | None:
        while time.monotonic() < deadline:
            if wrapper_pid(h.name) is not None and ssh_ok(h):
                return None
            time.sleep(0.3)
        return h.name

    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as ex:
        return [n for n in ex.map(one, targets) if n]


def _refresh_hosts_file(path: Path, wanted: str) -> None:
    """Bring a running host's /etc/hosts up to date with the lab's lines without touching what the
    platform manages there (its marked block): a warm `up` must leave converged hosts unchanged."""
    current = path.read_text() if path.exists() else ""
    lines = set(current.splitlines())
    if all(ln in lines for ln in wanted.splitlines()):
        return
    block, inside = [], False
    for ln in current.splitlines():
        if ln == "# BEGIN platform hosts":
            inside = True
        if inside:
            block.append(ln)
        if ln == "# END platform hosts":
            inside = False
    write_file(path, wanted + ("\n".join(block) + "\n" if block else ""))


def hosts_up(fresh: bool = False, timeout: float = 120) -> dict[str, list[str]]:
    """Bring every lab host up. Hosts of this checkout that already run are kept (unless `fresh`);
    all other lab state - including stale state of killed sessions or other checkouts - is cleared."""
    all_hosts = hosts()
    keep = set() if fresh else {h.name for h in all_hosts if is_running(h)}
    cleared = sweep(Sweep(keep=keep))
    if cleared:
        log(
            "hosts",
            f"cleared stale lab state: {len(cleared)} items ({', '.join(cleared[:6])}{' ...' * (len(cleared) > 6)})",
        )
    if not (repo_dir() / "Packages").exists() or not (base_dir() / "etc/os-release").exists():
        raise LabError("base image or repository missing: run `scripts/lab prepare`")
    bridge_up()
    started = []
    for h in all_hosts:
        if h.name in keep:
            _refresh_hosts_file(root_dir(h.name) / "etc/hosts", hosts_file(all_hosts))
            continue
        create(h, all_hosts)
        boot(h)
        started.append(h.name)
    if keep:
        log("hosts", f"kept running: {', '.join(sorted(keep))}")
    log("hosts", f"booting {', '.join(started) or 'nothing'}; waiting for ssh (<= {timeout:.0f} s)")
    failed = wait_ssh(all_hosts, timeout)
    if failed:
        details = []
        for n in failed:
            logf = host_dir(n) / "nspawn.log"
            tail = logf.read_text(errors="replace").splitlines()[-5:] if logf.exists() else []
            details.append(f"{n}: " + " | ".join(tail))
        raise LabError("no ssh to: " + "; ".join(details))
    return {"kept": sorted(keep), "started": started}


def hosts_down(all_checkouts: bool = False) -> list[str]:
    """Remove every host of this checkout (and, with all_checkouts, any lab-named state)."""
    return sweep(Sweep(ours_only=not all_checkouts))
