"""Clearing stale lab state: what a killed session (of this checkout or another one) leaves on
the machine - processes, overlay mounts, network namespaces, links, cgroups - recognised by its
`plab` names or its `.lab/` paths, and removed (processes by PID only).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import sysstate as ss
from .inventory import hosts
from .naming import BRIDGE, CGROUP_PARENT, PREFIX, WRAPPER_TAG, veth
from .util import LabError, lab_dir, run


@dataclass
class Sweep:
    """What to clear: everything lab-named except `keep` (host names of this checkout);
    `ours_only` limits it to this checkout (by path under lab_dir(), or by our host names)."""

    keep: set[str] = field(default_factory=set)
    ours_only: bool = False
    cleared: list[str] = field(default_factory=list)


def _our_names() -> set[str]:
    try:
        names = {h.name for h in hosts()}
    except (LabError, OSError, ValueError):  # a broken Pulumi.lab.yaml must not block `down`
        names = set()
    if (lab_dir() / "hosts").is_dir():
        names |= {p.name for p in (lab_dir() / "hosts").iterdir() if p.is_dir()}
    if (lab_dir() / "pids").is_dir():
        names |= {p.name[5:-4] for p in (lab_dir() / "pids").glob("host-*.pid")}
    return names


def _host_of_path(path: str) -> tuple[str, str] | None:
    """('/x/.lab', 'db-1') for '/x/.lab/hosts/db-1/...', else None."""
    i = path.find("/.lab/hosts/")
    if i < 0:
        return None
    lab = path[: i + 5]
    name = path[i + len("/.lab/hosts/") :].split("/", 1)[0]
    return lab, name


def sweep(sw: Sweep) -> list[str]:
    """Clear lab state (processes by PID, mounts, netns, links, cgroups, propagate dirs)."""
    ours = str(lab_dir())
    names = _our_names()

    def wanted_path(path: str) -> bool:
        hp = _host_of_path(path)
        if hp is None:
            return False
        if hp[0] == ours and hp[1] in sw.keep:
            return False
        return not sw.ours_only or hp[0] == ours

    def wanted_name(name: str) -> bool:
        return name not in sw.keep and (not sw.ours_only or name in names)

    # 1. processes: wrappers first (they would restart nspawn), then nspawn, then everything else.
    cg_names = set()
    for top in ss.cgroup_dirs(CGROUP_PARENT):
        if top.is_dir():
            cg_names |= {p.name for p in top.iterdir() if p.is_dir()}
    in_cg: dict[int, str] = {}
    for n in cg_names:
        for p in ss.cgroup_procs(f"{CGROUP_PARENT}/{n}"):
            in_cg[p] = n
    wrappers, nspawns, others = [], [], []
    for pid in ss.pids():
        if not ss.alive(pid):
            continue
        cmd = ss.cmdline(pid)
        directory = next((a.split("=", 1)[1] for a in cmd if a.startswith("--directory=")), "")
        is_plab = any(a.startswith(f"--machine={PREFIX}-") for a in cmd)
        if is_plab and WRAPPER_TAG in cmd[:5]:
            if wanted_path(directory):
                wrappers.append(pid)
        elif is_plab and ss.comm(pid) == "systemd-nspawn":
            if wanted_path(directory):
                nspawns.append(pid)
        elif pid in in_cg:
            upper = ss.root_upperdir(pid)
            if _host_of_path(upper) is not None:
                if wanted_path(upper):
                    others.append(pid)
            elif wanted_name(in_cg[pid]):
                others.append(pid)
    for group in (wrappers, nspawns, others):
        if group:
            ss.signal_pids(group)
            left = ss.wait_dead(group, 10)
            sw.cleared += [f"process {p}" for p in group if p not in left]
            if left:
                raise LabError(f"processes survive SIGKILL: {left}")
    # 2. mounts (deepest first): host roots (overlay upperdir under */.lab/hosts/), leftovers under
    #    */.lab/hosts|base/ (e.g. an interrupted debootstrap), nspawn propagate dirs.
    doomed = []
    for m in ss.mounts():
        upper = ss.overlay_opt(m, "upperdir") if m.fstype == "overlay" else ""
        if upper and "/.lab/hosts/" in upper:
            if wanted_path(upper):
                doomed.append(m.mountpoint)
        elif "/.lab/hosts/" in m.mountpoint:
            if wanted_path(m.mountpoint):
                doomed.append(m.mountpoint)
        elif "/.lab/base/" in m.mountpoint and not sw.keep:
            if not sw.ours_only or m.mountpoint.startswith(ours + "/"):
                doomed.append(m.mountpoint)
    for mp in sorted(set(doomed), key=len, reverse=True):
        rm_nspawn_lock(mp)
        if not ss.umount(mp):
            raise LabError(f"cannot unmount {mp}")
        sw.cleared.append(f"mount {mp}")
    # 3. network namespaces and links (veth pairs die with their netns; the bridge last).
    for ns in ss.netns_names():
        if ns.startswith(f"{PREFIX}-") and wanted_name(ns[len(PREFIX) + 1 :]):
            run(["ip", "netns", "del", ns], check=False)
            sw.cleared.append(f"netns {ns}")
    keep_links = {veth(n) for n in sw.keep}
    our_links = {veth(n) for n in names}
    for link in ss.link_names():
        if link == BRIDGE or not link.startswith(PREFIX) or link in keep_links:
            continue
        if not sw.ours_only or link in our_links:
            run(["ip", "link", "del", link], check=False)
            sw.cleared.append(f"link {link}")
    if not sw.keep and BRIDGE in ss.link_names():
        attached = [lk for lk in ss.link_names() if lk != BRIDGE and ss.link_master(lk) == BRIDGE]
        if not attached:
            run(["ip", "link", "del", BRIDGE])
            sw.cleared.append(f"bridge {BRIDGE}")
    # 4. cgroups and nspawn's propagate dirs (/run is not a tmpfs on this machine).
    for n in cg_names:
        if wanted_name(n):
            if not ss.rmdir_cgroup(f"{CGROUP_PARENT}/{n}"):
                raise LabError(f"cannot remove cgroup {CGROUP_PARENT}/{n}")
            sw.cleared.append(f"cgroup {CGROUP_PARENT}/{n}")
    if not sw.keep:
        ss.rmdir_cgroup(CGROUP_PARENT, timeout=2)
    prop = Path("/run/systemd/nspawn/propagate")
    if prop.is_dir():
        for pdir in prop.glob(f"{PREFIX}-*"):
            if wanted_name(pdir.name[len(PREFIX) + 1 :]):
                rm_propagate(pdir.name)
    # 5. this checkout's host folders and pid files (never another checkout's files).
    if (lab_dir() / "hosts").is_dir():
        for d in (lab_dir() / "hosts").iterdir():
            if d.name not in sw.keep and not any(m.mountpoint.startswith(str(d) + "/") for m in ss.mounts()):
                shutil.rmtree(d)
    for pf in (lab_dir() / "pids").glob("host-*.pid") if (lab_dir() / "pids").is_dir() else []:
        if pf.name[5:-4] not in sw.keep:
            pf.unlink()
    return sw.cleared


def rm_nspawn_lock(root: str) -> None:
    """nspawn's image lock /run/systemd/nspawn/locks/inode-<dev>:<ino> (named after the root
    directory's inode, so it can only be found while the root is still mounted)."""
    try:
        st = os.stat(root)
    except OSError:
        return
    Path(f"/run/systemd/nspawn/locks/inode-{st.st_dev}:{st.st_ino}").unlink(missing_ok=True)


def rm_propagate(mach: str) -> None:
    p = Path("/run/systemd/nspawn/propagate") / mach
    for m in sorted((m for m in ss.mounts() if m.mountpoint.startswith(str(p))), key=lambda m: -len(m.mountpoint)):
        ss.umount(m.mountpoint)
    shutil.rmtree(p, ignore_errors=True)
