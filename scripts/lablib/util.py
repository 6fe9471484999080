"""Shared helpers of the lab layer: paths, command execution, logging, stamps.

Every external command goes through `run()`, which fails loudly (like `set -euo pipefail`) unless
the caller asks otherwise, and every wait is bounded by a deadline.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

_T0 = time.monotonic()


class LabError(RuntimeError):
    """A lab step failed; the message says which and why."""


def repo_root() -> Path:
    return REPO_ROOT


def lab_dir() -> Path:
    """The lab's work folder `<repo>/.lab` (gitignored). `LAB_DIR` overrides it (tests only)."""
    override = os.environ.get("LAB_DIR")
    return Path(override).resolve() if override else REPO_ROOT / ".lab"


def elapsed() -> float:
    return time.monotonic() - _T0


def log(step: str, msg: str) -> None:
    """Progress line: elapsed seconds since the process started, step name, message."""
    print(f"[{elapsed():7.1f}s] {step}: {msg}", file=sys.stderr, flush=True)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    check: bool = True,
    capture: bool = True,
    timeout: float = 600,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command (never through a shell). Raise LabError with its output when it fails."""
    args = [os.fspath(a) for a in argv]
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        cp = subprocess.run(
            args,
            input=input,
            text=True,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout:.0f}s: {shlex.join(args)}") from exc
    except FileNotFoundError as exc:
        raise LabError(f"command not found: {args[0]}") from exc
    if check and cp.returncode != 0:
        out = ((cp.stdout or "") + (cp.stderr or "")).strip()
        tail = "\n".join(out.splitlines()[-25:])
        raise LabError(f"exit {cp.returncode}: {shlex.join(args)}\n{tail}")
    return cp


def ok(argv: Sequence[str | os.PathLike[str]], timeout: float = 60) -> bool:
    """True when the command exits 0 (output discarded)."""
    try:
        return run(argv, check=False, timeout=timeout).returncode == 0
    except LabError:
        return False


def wait_until(pred: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Poll `pred` until it is true or `timeout` seconds passed (bounded in time and count)."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        if pred():
            return True
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    return pred()


def sha256_text(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()


def read_stamp(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def write_file(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write atomically; return True when the content changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.read_text() == text and (path.stat().st_mode & 0o7777) == mode:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (mounts, namespaces, systemd-nspawn)")
