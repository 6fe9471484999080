"""PostgreSQL clients of the drills and the bench: psql writes through the router (PgClient),
the 100 ms prober that records every attempt (Prober), and pgbench load (Load).

They run on this machine, which is an admin source of the lab (allowed to the router's
5000/5001). Passwords reach them only through a 0600 PGPASSFILE, never a command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scripts.drills.common import run_local


def _pgpass_escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace(":", "\\:")


class PgClient:
    """psql / pgbench on this machine as one app's role; the password only in a 0600 PGPASSFILE."""

    def __init__(self, database: str, user: str, password: str, host: str, port: int) -> None:
        self.database, self.user, self.host, self.port = database, user, host, port
        self.dir = tempfile.mkdtemp(prefix="platform-drill-")
        self.passfile = os.path.join(self.dir, "pgpass")
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"*:*:*:{_pgpass_escape(user)}:{_pgpass_escape(password)}\n")
        self.env = {**os.environ, "PGPASSFILE": self.passfile, "PGSSLMODE": "require",
                    "PGCONNECT_TIMEOUT": "2", "PGAPPNAME": "platform-drill"}
        for k in ("PGPASSWORD", "PGSERVICE", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGOPTIONS"):
            self.env.pop(k, None)

    def conninfo(self, host: str | None = None, port: int | None = None) -> str:
        return (f"host={host or self.host} port={port or self.port} dbname={self.database} user={self.user} "
                "sslmode=require connect_timeout=2")

    def psql(self, sql: str, host: str | None = None, port: int | None = None, timeout: float = 5,
             netns: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = ["psql", self.conninfo(host, port), "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        return run_local(argv, env=self.env, timeout=timeout)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Attempt:
    id: int
    t0: float  # monotonic start
    t1: float = 0.0  # monotonic end (0 while in flight)
    ok: bool = False
    kind: str = ""  # ok | readonly | refused | timeout | error
    detail: str = ""


def classify(cp: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    err = (cp.stderr or "").strip().splitlines()
    detail = err[-1][:160] if err else ""
    if cp.returncode == 0:
        return "ok", ""
    if cp.returncode == 124:
        return "timeout", detail
    low = (cp.stderr or "").lower()
    if "read-only" in low or "recovery" in low:
        return "readonly", detail
    if "connection refused" in low or "could not connect" in low or "no route" in low or "shutting down" in low \
            or "starting up" in low or "server closed the connection" in low or "terminating connection" in low:
        return "refused", detail
    return "error", detail


class Prober:
    """Runs `one(i)` every `interval` seconds, each call in its own thread (a stuck call never
    delays the next), and records every attempt. At most `max_inflight` calls at once."""

    def __init__(self, one: Callable[[int], subprocess.CompletedProcess[str]], interval: float = 0.1,
                 max_inflight: int = 40, name: str = "prober") -> None:
        self.one, self.interval, self.name = one, interval, name
        self.attempts: list[Attempt] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sem = threading.Semaphore(max_inflight)
        self._threads: list[threading.Thread] = []
        self._loop: threading.Thread | None = None
        self._next = 1

    def start(self) -> None:
        self._loop = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._loop.start()

    def _run(self) -> None:
        nxt = time.monotonic()
        while not self._stop.is_set():
            if self._sem.acquire(blocking=False):
                a = Attempt(self._next, time.monotonic())
                self._next += 1
                with self._lock:
                    self.attempts.append(a)
                t = threading.Thread(target=self._do, args=(a,), daemon=True)
                self._threads.append(t)
                t.start()
            nxt += self.interval
            self._stop.wait(max(0.0, nxt - time.monotonic()))

    def _do(self, a: Attempt) -> None:
        try:
            cp = self.one(a.id)
            a.kind, a.detail = classify(cp)
        except Exception as e:  # noqa: BLE001
            a.kind, a.detail = "error", f"{type(e).__name__}: {e}"
        finally:
            a.ok = a.kind == "ok"
            a.t1 = time.monotonic()
            self._sem.release()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._loop:
            self._loop.join(timeout)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def done(self) -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if a.t1]

    def acked_ids(self) -> set[int]:
        return {a.id for a in self.done() if a.ok}

    def recovery(self, fault: float) -> float | None:
        """Seconds from `fault` until writes succeed again: the end of the first successful attempt
        started after the last failed one (attempts started before the fault are ignored)."""
        after = sorted((a for a in self.done() if a.t0 >= fault), key=lambda a: a.t0)
        fails = [a for a in after if not a.ok]
        last_fail = max((a.t0 for a in fails), default=fault)
        ok = [a for a in after if a.ok and (a.t0 > last_fail or not fails)]
        return round(ok[0].t1 - fault, 2) if ok else None

    def stable_since(self, fault: float, streak: int) -> bool:
        """Writes are stable again: after the last failed attempt (started after the fault) at least
        `streak` attempts succeeded, and no attempt older than the newest of them is still running."""
        with self._lock:
            after = sorted((a for a in self.attempts if a.t0 >= fault), key=lambda a: a.t0)
        last_fail = max((i for i, a in enumerate(after) if a.t1 and not a.ok), default=-1)
        oks = [i for i, a in enumerate(after) if i > last_fail and a.t1 and a.ok]
        if len(oks) < streak:
            return False
        return all(a.t1 for a in after[: oks[streak - 1] + 1])

    def first_failures(self, fault: float, limit: int = 4) -> list[str]:
        fails = sorted((a for a in self.done() if a.t0 >= fault and not a.ok), key=lambda a: a.t0)
        return [f"+{a.t0 - fault:.2f}s {a.kind}: {a.detail[-90:]}" for a in fails[:limit]]

    def failure_window(self, fault: float) -> tuple[float, float] | None:
        """(first, last) start of a failed attempt, seconds after the fault."""
        fails = [a.t0 - fault for a in self.done() if a.t0 >= fault and not a.ok]
        return (round(min(fails), 2), round(max(fails), 2)) if fails else None

    def counts(self, since: float = 0.0) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.done():
            if a.t0 >= since:
                out[a.kind] = out.get(a.kind, 0) + 1
        return out

    def errors(self, since: float = 0.0, limit: int = 3) -> list[str]:
        seen: list[str] = []
        for a in self.done():
            if a.t0 >= since and not a.ok and a.detail and a.detail not in seen:
                seen.append(a.detail)
        return seen[:limit]


class Load:
    """pgbench through the router in 5-second chunks until stopped (a chunk whose clients abort at a
    failover is followed by a new one), so the load keeps running across the failover."""

    SCRIPT = (
        "\\set k random(1, 10000)\n"
        "INSERT INTO platform_drill.load (k, v) VALUES (:k, now()) "
        "ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, n = platform_drill.load.n + 1;\n"
    )

    def __init__(self, client: PgClient, clients: int = 2, chunk: int = 5, rate: int = 50) -> None:
        self.client, self.clients, self.chunk, self.rate = client, clients, chunk, rate
        self.script = os.path.join(client.dir, "load.sql")
        Path(self.script).write_text(self.SCRIPT)
        self.transactions = 0
        self.chunks = 0
        self.aborted_chunks = 0
        self._stop = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._thread = threading.Thread(target=self._run, name="pgbench-load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        c = self.client
        while not self._stop.is_set():
            argv = ["pgbench", "-n", "-c", str(self.clients), "-j", "2", "-T", str(self.chunk), "-R", str(self.rate),
                    "-f", self.script,
                    "-h", c.host, "-p", str(c.port), "-U", c.user, c.database]
            self._proc = subprocess.Popen(argv, env=c.env, text=True, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT)
            try:
                out, _ = self._proc.communicate(timeout=self.chunk + 30)
            except subprocess.TimeoutExpired:
                self._proc.kill()  # our own child, by PID
                out, _ = self._proc.communicate()
            self.chunks += 1
            if self._proc.returncode != 0:
                self.aborted_chunks += 1
            for line in out.splitlines():
                if line.startswith("number of transactions actually processed:"):
                    try:
                        self.transactions += int(line.split(":")[1].split("/")[0].strip())
                    except ValueError:
                        pass
            if self._proc.returncode != 0:
                self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.chunk + 40)
        p = self._proc
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(5)

    def summary(self) -> dict[str, int]:
        return {"load_transactions": self.transactions, "load_chunks": self.chunks,
                "load_aborted_chunks": self.aborted_chunks}
