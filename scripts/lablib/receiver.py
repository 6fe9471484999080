"""Lab alert receiver: an HTTP server on the bridge (http://198.18.0.1:9099) that Alertmanager's
webhook (`monitoring.webhookUrl`) and dead man's switch (`deadMansSwitchUrl`) post to. Every
notification is appended, with the time it arrived, to `.lab/receiver/notifications.jsonl`; the
drills and tests read that file to measure fault -> page.

The server runs in the background with its PID in `.lab/pids/receiver.pid` and its working
directory in `.lab/receiver/` (how another checkout's leftover is recognised); `down` kills it by PID.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from . import children
from . import sysstate as ss
from .inventory import GATEWAY
from .util import LabError, lab_dir, log, repo_root, wait_until, write_file

PORT = 9099
NOTIFY_PATH = "/alerts"
DEADMAN_PATH = "/deadman"
MARKER = "scripts.lablib.receiver"



def receiver_dir() -> Path:
    return lab_dir() / "receiver"


def log_path() -> Path:
    return receiver_dir() / "notifications.jsonl"


def url(path: str = NOTIFY_PATH) -> str:
    """The URL as the lab hosts (the monitoring VM) see it."""
    return f"http://{GATEWAY}:{PORT}{path}"


# ---------------------------------------------------------------- the server (a subprocess)


class Handler(http.server.BaseHTTPRequestHandler):
    lock = threading.Lock()
    out: Path = Path("notifications.jsonl")

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 4 * 1024 * 1024))
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = {"unparsed": body[:2000].decode(errors="replace")}
        line = json.dumps({"received": time.time(), "path": self.path, "payload": payload})
        with self.lock, open(self.out, "a") as f:
            f.write(line + "\n")
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


def serve(bind: str, port: int, out: Path) -> None:
    Handler.out = out
    http.server.ThreadingHTTPServer((bind, port), Handler).serve_forever()


# ---------------------------------------------------------------- control


def _pid_path() -> Path:
    return lab_dir() / "pids" / "receiver.pid"


def _is_receiver(pid: int) -> bool:
    cwd = ss.proc_cwd(pid).removesuffix(" (deleted)")
    return ss.alive(pid) and cwd.endswith("/.lab/receiver") and any(MARKER in a for a in ss.cmdline(pid)[:4])


def service_pid() -> int | None:
    try:
        pid = int(_pid_path().read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return pid if _is_receiver(pid) and ss.proc_cwd(pid).removesuffix(" (deleted)") == str(receiver_dir()) else None


def healthy() -> bool:
    if service_pid() is None:
        return False
    try:
        with urllib.request.urlopen(url("/"), timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def receiver_up() -> bool:
    """Start the receiver unless this checkout's already serves. True when started."""
    if healthy():
        return False
    receiver_down(all_checkouts=True)
    receiver_dir().mkdir(parents=True, exist_ok=True)
    python = repo_root() / ".venv" / "bin" / "python"
    argv = [str(python if python.exists() else sys.executable), "-m", MARKER, GATEWAY, str(PORT), str(log_path())]
    with open(receiver_dir() / "receiver.log", "ab") as logf:
        proc = subprocess.Popen(argv, cwd=receiver_dir(), stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONPATH": str(repo_root())})
    children.register("receiver", proc)
    write_file(_pid_path(), f"{proc.pid}\n")
    if not wait_until(healthy, 15, 0.2):
        raise LabError(f"the alert receiver does not answer at {url('/')}; see {receiver_dir() / 'receiver.log'}")
    log("receiver", f"alert receiver at {url()} (log {log_path()})")
    return True


def receiver_down(all_checkouts: bool = False) -> list[str]:
    """Stop the receiver and set its log aside (`notifications.previous.jsonl`): the notifications
    of a lab that is gone must not count for the next one (a drill waiting for an alert's
    resolution that the destroyed lab never sent waited out its whole bound)."""
    targets = [p for p in (service_pid(),) if p is not None]
    if all_checkouts:
        targets += [p for p in ss.pids() if p not in targets and _is_receiver(p)]
    children.kill(targets, "receiver")
    _pid_path().unlink(missing_ok=True)
    children.reap("receiver")
    done = [f"process {p}" for p in targets]
    if log_path().exists():
        log_path().replace(log_path().with_name("notifications.previous.jsonl"))
        done.append(f"log {log_path()} (kept as notifications.previous.jsonl)")
    return done


def notifications(since: float = 0.0, path: str | None = NOTIFY_PATH) -> list[dict[str, Any]]:
    """Notifications received at or after `since` (epoch seconds), oldest first."""
    try:
        lines = log_path().read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            n = json.loads(line)
        except ValueError:
            continue
        if n["received"] >= since and (path is None or n["path"] == path):
            out.append(n)
    return out


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
