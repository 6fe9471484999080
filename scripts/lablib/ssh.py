"""SSH to lab hosts as `deploy` with the lab key."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence

from .image import DEPLOY_USER, key_path
from .inventory import find_host

SSH_OPTIONS = (
    "StrictHostKeyChecking=no",
    "UserKnownHostsFile=/dev/null",
    "LogLevel=ERROR",
    "ConnectTimeout=3",
    "BatchMode=yes",
    "ServerAliveInterval=5",
    "ServerAliveCountMax=3",
)


def ssh_argv(host: str, user: str = DEPLOY_USER) -> list[str]:
    """`ssh ... user@ip` for a lab host given by name or address; append the remote command."""
    h = find_host(host)
    argv = ["ssh", "-i", str(key_path()), "-o", "IdentitiesOnly=yes"]
    for opt in SSH_OPTIONS:
        argv += ["-o", opt]
    return [*argv, f"{user}@{h.ip}"]


def ssh_run(
    host: str,
    cmd: str | Sequence[str],
    stdin: str | None = None,
    timeout: float = 300,
    user: str = DEPLOY_USER,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `cmd` on a lab host (a string goes to the remote shell as is; a list is quoted).

    Output is captured as text. A timeout raises subprocess.TimeoutExpired; `check=True` raises
    CalledProcessError on a non-zero exit.
    """
    remote = cmd if isinstance(cmd, str) else shlex.join(cmd)
    return subprocess.run(
        [*ssh_argv(host, user), remote],
        input=stdin if stdin is not None else "",
        text=True,
        capture_output=True,
        timeout=timeout,
        check=check,
    )
