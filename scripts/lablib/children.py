"""The lab's background processes started by this process (the S3 server and its TLS proxy, the
alert receiver, the hosts' nspawn wrappers): one registry, so that stopping one by PID also reaps
its Popen (no zombie), and one way to kill a set of PIDs and insist they are gone."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable

from . import sysstate as ss
from .util import LabError

_children: dict[str, subprocess.Popen[bytes]] = {}


def register(key: str, proc: subprocess.Popen[bytes]) -> None:
    _children[key] = proc


def reap(key: str, timeout: float = 5) -> None:
    """Wait (bounded) for the child registered under `key`, if this process started it."""
    proc = _children.pop(key, None)
    if proc is not None:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass


def kill(targets: Iterable[int], what: str, timeout: float = 10) -> None:
    """SIGKILL `targets` (PIDs this lab started) and wait until they are gone, or raise."""
    pids = list(targets)
    if not pids:
        return
    ss.signal_pids(pids)
    left = ss.wait_dead(pids, timeout)
    if left:
        raise LabError(f"{what} processes survive SIGKILL: {left}")
