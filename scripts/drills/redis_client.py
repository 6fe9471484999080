"""The Redis drills' client subprocess: runs in a network namespace or on this machine, reads its
config as JSON on stdin (credentials too, never on a command line), writes or probes through
Sentinel or the router, and prints one JSON event per line. `Client` starts and reads one.

Acknowledged write: `SET` answered OK *and* `WAIT 1 <ms>` confirmed one replica (always with a
timeout: WAIT without a replica blocks forever).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

WRITE_INTERVAL = 0.05

WAIT_MS = 100


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _client(cfg: dict[str, Any]) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    common = dict(username=cfg["user"], password=cfg["password"], socket_timeout=0.5,
                  socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0), lib_name=None, lib_version=None)
    if cfg["mode"] == "sentinel":
        from redis.sentinel import Sentinel

        sentinels = [(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in cfg["sentinels"]]
        # No retries towards a Sentinel either: redis-py's default (3, exponential backoff) spends
        # seconds on a dead Sentinel before asking the next one.
        s = Sentinel(sentinels, sentinel_kwargs={"socket_timeout": 0.5, "socket_connect_timeout": 0.5,
                                                 "retry": Retry(NoBackoff(), 0)})
        return s.master_for(cfg["master_name"], **common)
    host, port = cfg["address"].rsplit(":", 1)
    return redis.Redis(host=host, port=int(port), **common)


def _writer(cfg: dict[str, Any], stop: threading.Event) -> None:
    """Write every `interval` s: SET key EX + WAIT 1 <ms>; one event per attempt. After `stop`:
    check every key answered OK on the current master (through the same path), then delete them."""
    import redis

    c = _client(cfg)
    prefix = cfg["prefix"]
    seq = 0
    oks: dict[int, bool] = {}  # seq -> acknowledged by a replica
    while not stop.is_set():
        seq += 1
        key = f"{prefix}{seq}"
        t = time.time()
        try:
            p = c.pipeline(transaction=False)
            p.set(key, str(t), ex=86400)
            p.execute_command("WAIT", 1, cfg.get("wait_ms", WAIT_MS))
            res = p.execute()
            acked = bool(res[0]) and int(res[1]) >= 1
            oks[seq] = acked
            _emit({"ev": "w", "seq": seq, "t": t, "t_end": time.time(), "ok": True, "acked": acked})
        except (redis.RedisError, OSError) as e:
            _emit({"ev": "w", "seq": seq, "t": t, "t_end": time.time(), "ok": False,
                   "err": f"{type(e).__name__}: {str(e)[:80]}"})
        time.sleep(max(0.0, cfg.get("interval", WRITE_INTERVAL) - (time.time() - t)))
    # Check: every key answered OK must be on the master the path leads to now.
    deadline = time.time() + 30
    last_err = ""
    while True:
        try:
            seqs = sorted(oks)
            present: dict[int, bool] = {}
            for i in range(0, len(seqs), 500):
                chunk = seqs[i:i + 500]
                p = c.pipeline(transaction=False)
                for s in chunk:
                    p.exists(f"{prefix}{s}")
                for s, n in zip(chunk, p.execute(), strict=True):
                    present[s] = bool(n)
            lost_acked = [s for s in seqs if oks[s] and not present[s]]
            lost_unacked = [s for s in seqs if not oks[s] and not present[s]]
            _emit({"ev": "check", "ok_writes": len(seqs), "acked": sum(oks.values()),
                   "acked_lost": len(lost_acked), "unacked_lost": len(lost_unacked),
                   "acked_lost_seqs": lost_acked[:20], "unacked_lost_seqs": lost_unacked[:20]})
            break
        except (redis.RedisError, OSError) as e:
            last_err = f"{type(e).__name__}: {e}"
            if time.time() > deadline:
                _emit({"ev": "check", "error": last_err})
                return
            time.sleep(0.5)
    try:
        keys = [f"{prefix}{s}" for s in range(1, seq + 1)]
        for i in range(0, len(keys), 500):
            c.delete(*keys[i:i + 500])
    except (redis.RedisError, OSError):
        pass


def _prober(cfg: dict[str, Any], stop: threading.Event) -> None:
    """Probe one Redis address (the returning former master) as fast as possible: a fresh
    connection each time, SET first (a write accepted by it is the failure we look for), then
    INFO replication. Events: conn false (port closed), or set ok|readonly|loading|err + role/link."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    host, port = cfg["address"].rsplit(":", 1)
    seq = 0
    last = None
    counts: dict[str, int] = {}
    while not stop.is_set():
        seq += 1
        t = time.time()
        ev: dict[str, Any] = {"ev": "p", "seq": seq, "t": t}
        r = redis.Redis(host=host, port=int(port), username=cfg["user"], password=cfg["password"],
                        socket_timeout=1, socket_connect_timeout=0.3, retry=Retry(NoBackoff(), 0),
                        lib_name=None, lib_version=None)
        try:
            try:
                r.set(f"{cfg['prefix']}{seq}", "stale-write-probe", ex=3600)
                ev["set"] = "ok"
            except redis.ReadOnlyError:
                ev["set"] = "readonly"
            except redis.BusyLoadingError:
                ev["set"] = "loading"
            except redis.ResponseError as e:
                ev["set"] = f"err: {str(e)[:60]}"
            ev["conn"] = True
            try:
                info = r.info("replication")
                ev["role"] = info.get("role")
                ev["link"] = info.get("master_link_status")
                ev["master_host"] = info.get("master_host")
            except redis.RedisError as e:
                ev["info_err"] = str(e)[:60]
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            ev["conn"] = False
            ev["err"] = type(e).__name__
        except redis.RedisError as e:
            ev["conn"] = True
            ev["set"] = f"err: {str(e)[:60]}"
        finally:
            try:
                r.close()
            except Exception:  # noqa: BLE001 - closing a dead connection
                pass
        # Only changes are interesting while the port stays closed (a probe every 20 ms).
        outcome = str(ev.get("set")) if ev.get("conn") else "closed"
        counts[outcome] = counts.get(outcome, 0) + 1
        sig = (ev.get("conn"), ev.get("set"), ev.get("role"), ev.get("link"))
        if sig != last or ev.get("set") == "ok":
            _emit(ev)
            last = sig
        time.sleep(max(0.0, 0.02 - (time.time() - t)))
    _emit({"ev": "probe_end", "probes": seq, "outcomes": counts})


def client_main() -> int:
    """Entry of a client subprocess: config JSON on the first stdin line, 'stop' on the next."""
    cfg = json.loads(sys.stdin.readline())
    stop = threading.Event()

    def wait_stop() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_stop, daemon=True).start()
    _emit({"ev": "start", "mode": cfg["mode"], "t": time.time()})
    if cfg["mode"] == "probe":
        _prober(cfg, stop)
    else:
        _writer(cfg, stop)
    _emit({"ev": "done"})
    return 0


class Client:
    """A client subprocess and its events (read by a thread)."""

    def __init__(self, cfg: dict[str, Any], netns: str | None) -> None:
        argv = [str(ROOT / ".venv" / "bin" / "python"), "-c",
                "import sys; from scripts.drills.redis_client import client_main; sys.exit(client_main())"]
        if not Path(argv[0]).exists():
            argv[0] = sys.executable
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.events: list[dict[str, Any]] = []
        self.stderr = ""
        self.q: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cfg) + "\n")
        self.proc.stdin.flush()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.events.append(ev)
            self.q.put(ev)

    def snapshot(self, kind: str = "w") -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e.get("ev") == kind]

    def dump(self, path: str | None, label: str) -> None:
        """Append every event to a JSONL trace file (--trace)."""
        if not path:
            return
        with self._lock, open(path, "a") as f:
            for e in self.events:
                f.write(json.dumps({"client": label, **e}) + "\n")

    def stop(self, timeout: float = 60) -> dict[str, Any]:
        """Stop writing; returns the check event (or {} when there is none)."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        time.sleep(0.1)
        self.stderr = (self.proc.stderr.read() if self.proc.stderr else "")[-2000:]
        checks = self.snapshot("check")
        return checks[-1] if checks else {"error": self.stderr[-300:] or f"exit {self.proc.returncode}"}


def recovery(events: list[dict[str, Any]], t0: float) -> tuple[float | None, int]:
    """Seconds from t0 until writes succeeded again: the end of the first OK write that started
    after the first failed one (0 when no write failed). Also: failed attempts after t0."""
    after = [e for e in events if e["t_end"] >= t0]
    fails = [e for e in after if not e["ok"]]
    if not fails:
        ok = [e for e in after if e["ok"]]
        return (0.0 if ok else None), 0
    first_fail = fails[0]
    for e in after:
        if e["ok"] and e["t"] >= first_fail["t_end"]:
            return round(e["t_end"] - t0, 2), len(fails)
    return None, len(fails)
