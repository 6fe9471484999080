"""A scratch PostgreSQL 15 (the distribution's) on a private socket, run as the postgres user, for
tests that check what the platform assumes of the real server."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
AVAILABLE = (BIN / "postgres").exists() and os.geteuid() == 0


@dataclass
class ScratchPostgres:
    base: str
    data: str

    def as_pg(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True,
                              timeout=timeout, cwd=self.base)

    def start(self) -> None:
        p = self.as_pg(str(BIN / "pg_ctl"), "-D", self.data, "-l", f"{self.base}/log", "-w", "-t", "60", "-o",
                       f"-c listen_addresses='' -c unix_socket_directories={self.base} -c shared_buffers=16MB",
                       "start")
        assert p.returncode == 0, p.stderr + Path(f"{self.base}/log").read_text()[-500:]

    def stop(self, mode: str = "fast") -> None:
        p = self.as_pg(str(BIN / "pg_ctl"), "-D", self.data, "-m", mode, "-w", "-t", "30", "stop")
        assert p.returncode == 0, p.stderr

    def postmaster_pid(self) -> int:
        return int(Path(f"{self.data}/postmaster.pid").read_text().split("\n")[0])

    def query(self, sql: str) -> str:
        p = self.as_pg(str(BIN / "psql"), "-h", self.base, "-d", "postgres", "-AtXc", sql, timeout=30)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()


@contextmanager
def scratch_postgres(prefix: str) -> Iterator[ScratchPostgres]:
    """initdb + start; stopped (immediate) and removed afterwards."""
    pg = pwd.getpwnam("postgres")
    base = tempfile.mkdtemp(prefix=prefix)
    try:
        os.chown(base, pg.pw_uid, pg.pw_gid)
        s = ScratchPostgres(base, f"{base}/data")
        p = s.as_pg(str(BIN / "initdb"), "-D", s.data, "-A", "trust", "--no-sync")
        assert p.returncode == 0, p.stderr
        s.start()
        try:
            yield s
        finally:
            s.as_pg(str(BIN / "pg_ctl"), "-D", s.data, "-m", "immediate", "-w", "-t", "30", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)
