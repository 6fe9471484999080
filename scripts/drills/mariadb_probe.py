"""The MariaDB drills' probe subprocess: runs inside a lab host's network namespace (`ip netns exec`),
reads its config as JSON on stdin (credentials too, never on a command line), inserts one row every
`interval` s straight into that host's MariaDB over TLS, and prints one JSON event per attempt:
{"t": start, "ok": bool, "seq": n, "error": text}. Stops after `seconds`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any


def insert_every(connect: Callable[[], Any], table: str, run: str, interval: float,
                 keep_going: Callable[[], bool], pause: Callable[[float], Any],
                 report: Callable[[float, bool, int, str], None]) -> None:
    """One INSERT of (run, seq) every `interval` s over a connection from `connect()`, reconnecting
    after any error; `report(start, ok, seq, error)` per attempt. Shared by this probe and the
    drills' in-process writer (scripts/drills/mariadb.py)."""
    conn = None
    seq = 0
    while keep_going():
        seq += 1
        t = time.time()
        try:
            if conn is None:
                conn = connect()
            with conn.cursor() as cur:
                cur.execute(f"INSERT INTO {table} (run, seq) VALUES (%s, %s)", (run, seq))
            report(t, True, seq, "")
        except Exception as e:  # noqa: BLE001 - every failure is an outcome
            report(t, False, seq, f"{type(e).__name__}: {str(e)[:160]}")
            try:
                if conn is not None:
                    conn.close()
            except Exception:  # noqa: BLE001
                pass
            conn = None
        pause(max(0.0, interval - (time.time() - t)))
    if conn is not None:
        conn.close()


def main() -> None:
    import pymysql

    cfg: dict[str, Any] = json.loads(sys.stdin.readline())
    deadline = time.time() + float(cfg["seconds"])

    def connect() -> Any:
        return pymysql.connect(host=cfg["host"], port=int(cfg["port"]), user=cfg["user"], password=cfg["password"],
                               database=cfg["database"], connect_timeout=2, read_timeout=2, write_timeout=2,
                               autocommit=True, ssl={"ca": cfg["ca"], "check_hostname": False})

    def report(t: float, ok: bool, seq: int, error: str) -> None:
        out: dict[str, Any] = {"t": t, "ok": ok, "seq": seq}
        if not ok:
            out["error"] = error
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()

    insert_every(connect, cfg["table"], cfg["run"], float(cfg["interval"]), lambda: time.time() < deadline,
                 time.sleep, report)


if __name__ == "__main__":
    main()
