"""What a lab may leave behind on the machine: the test session asserts there is none after `down`."""

from __future__ import annotations

from pathlib import Path

from scripts.lablib import sysstate

ROOT = Path(__file__).resolve().parents[2]


def leftovers() -> list[str]:
    """Any lab-named state on the machine."""
    found = [f"netns {n}" for n in sysstate.netns_names() if n.startswith("plab-")]
    found += [f"link {n}" for n in sysstate.link_names() if n.startswith("plab")]
    found += [f"mount {m.mountpoint}" for m in sysstate.mounts() if "/.lab/hosts/" in m.mountpoint + m.options]
    found += [f"cgroup {d}" for d in sysstate.cgroup_dirs("plab") if d.exists()]
    for pid in sysstate.pids():
        cmd = sysstate.cmdline(pid)
        if sysstate.alive(pid) and (
            any(a.startswith("--machine=plab-") for a in cmd) or "/.lab/hosts/" in sysstate.root_upperdir(pid)
        ):
            found.append(f"process {pid} {' '.join(cmd)[:80]}")
        elif sysstate.alive(pid) and sysstate.proc_cwd(pid) == str(ROOT / ".lab" / "s3"):
            found.append(f"process {pid} {' '.join(cmd)[:80]}")
    return found
