"""Names and paths of the lab's hosts on the machine: everything the lab creates carries a `plab`
name or lives under `.lab/`, which is how stale state is recognised (scripts/lablib/sweep.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .util import lab_dir

BRIDGE = "plabbr0"
PREFIX = "plab"
CGROUP_PARENT = "plab"
WRAPPER_TAG = "plab-wrapper"


def netns(name: str) -> str:
    """Network namespace of a lab host (`ip netns exec <it> ...`)."""
    return f"{PREFIX}-{name}"


def machine(name: str) -> str:
    return f"{PREFIX}-{name}"


def veth(name: str) -> str:
    """Host-side veth of a lab host on the bridge (`ip link set <it> down` cuts the host off)."""
    n = f"{PREFIX}-{name}"
    return n if len(n) <= 15 else f"{PREFIX}-{hashlib.sha1(name.encode()).hexdigest()[:10]}"


def host_dir(name: str) -> Path:
    return lab_dir() / "hosts" / name


def root_dir(name: str) -> Path:
    return host_dir(name) / "root"


def pid_file(name: str) -> Path:
    return lab_dir() / "pids" / f"host-{name}.pid"


def cgroup_rel(name: str) -> str:
    return f"{CGROUP_PARENT}/{name}"
