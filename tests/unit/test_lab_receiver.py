"""The lab's alert receiver records what Alertmanager's webhook posts, with the arrival time."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from pathlib import Path

from scripts.lablib import receiver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_posted_notifications_are_recorded(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    port, out = free_port(), tmp_path / "n.jsonl"
    threading.Thread(target=receiver.serve, args=("127.0.0.1", port, out), daemon=True).start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    t0 = time.time()
    body = {"status": "firing", "alerts": [{"labels": {"alertname": "HostDown", "host": "db-1"}}]}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/alerts", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(req, timeout=2).status == 200
    monkeypatch.setattr(receiver, "log_path", lambda: out)
    got = receiver.notifications(since=t0)
    assert len(got) == 1 and got[0]["payload"] == body and got[0]["received"] >= t0
    assert receiver.notifications(since=time.time() + 60) == []
    assert receiver.notifications(since=t0, path="/deadman") == []


def test_down_sets_the_log_aside_for_the_next_lab(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A firing notification of a destroyed lab, never resolved: the next lab's drills must not see it.
    monkeypatch.setattr(receiver, "receiver_dir", lambda: tmp_path)
    monkeypatch.setattr(receiver, "service_pid", lambda: None)
    receiver.log_path().write_text(json.dumps({"received": time.time(), "path": "/alerts", "payload": {
        "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "PostgresFailover"}}]}}) + "\n")
    assert len(receiver.notifications()) == 1
    done = receiver.receiver_down()
    assert receiver.notifications() == [] and any("previous" in d for d in done)
    assert "PostgresFailover" in (tmp_path / "notifications.previous.jsonl").read_text()
    assert receiver.receiver_down() == []  # nothing left to set aside
