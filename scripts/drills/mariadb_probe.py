"""The MariaDB drills' probe subprocess: runs inside a lab host's network namespace (`ip netns exec`),
reads its config as JSON on stdin (credentials too, never on a command line), inserts one row every
`interval` s straight into that host's MariaDB over TLS, and prints one JSON event per attempt:
{"t": start, "ok": bool, "seq": n, "error": text}. Stops after `seconds`."""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def main() -> None:
    import pymysql

    cfg: dict[str, Any] = json.loads(sys.stdin.readline())
    deadline = time.time() + float(cfg["seconds"])
    conn = None
    seq = 0
    while time.time() < deadline:
        seq += 1
        t = time.time()
        try:
            if conn is None:
                conn = pymysql.connect(host=cfg["host"], port=int(cfg["port"]), user=cfg["user"],
                                       password=cfg["password"], database=cfg["database"], connect_timeout=2,
                                       read_timeout=2, write_timeout=2, autocommit=True,
                                       ssl={"ca": cfg["ca"], "check_hostname": False})
            with conn.cursor() as cur:
                cur.execute(f"INSERT INTO {cfg['table']} (run, seq) VALUES (%s, %s)", (cfg["run"], seq))
            out: dict[str, Any] = {"t": t, "ok": True, "seq": seq}
        except Exception as e:  # noqa: BLE001 - every failure is an outcome
            out = {"t": t, "ok": False, "seq": seq, "error": f"{type(e).__name__}: {str(e)[:160]}"}
            try:
                if conn is not None:
                    conn.close()
            except Exception:  # noqa: BLE001
                pass
            conn = None
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
        time.sleep(max(0.0, float(cfg["interval"]) - (time.time() - t)))


if __name__ == "__main__":
    main()
