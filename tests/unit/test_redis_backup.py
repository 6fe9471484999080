"""The backup and restore host scripts, for real: redis-server + moto S3 server on loopback.

Runs the rendered redis.conf (ACL user `backup`), the rendered s3cmd config (pointed at plain
HTTP moto) and the rendered backup parameters. Skipped without redis-server, s3cmd or moto_server.
Every process is started here and killed by its PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.redis import render
from tests.unit.test_redis_guard import IPS, SECRETS, free_port, loopback_settings, resp, substitute, wait_for

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "components/redis/files"
MOTO = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
pytestmark = pytest.mark.skipif(
    not (shutil.which("redis-server") and shutil.which("s3cmd") and shutil.which("redis-check-rdb") and MOTO),
    reason="needs redis-server, redis-tools, s3cmd and moto_server",
)
S3_SECRETS = {render.SECRET_S3_ACCESS: "testing", render.SECRET_S3_SECRET: "testing"}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        s = loopback_settings()
        host = s.hosts["redis"][0]
        s3_port = free_port(23500)
        procs.append(subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(s3_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        port = free_port(22379)
        d = tmp_path / "node"
        (d / "data").mkdir(parents=True)
        lay = render.Layout(redis_port=port, conf_dir=str(d), data_dir=str(d / "data"), log_dir=str(d),
                            redis_pidfile=str(d / "redis.pid"), supervised=False)
        (d / "redis.conf").write_text(substitute(render.render_redis_conf(s, host, lay), SECRETS))
        procs.append(subprocess.Popen(["redis-server", str(d / "redis.conf")], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        s3cfg = render.render_s3cfg(s)
        assert "{{secret:s3_access_key}}" in s3cfg and "use_https = True" in s3cfg
        s3cfg = substitute(s3cfg, S3_SECRETS).replace("use_https = True", "use_https = False")
        s3cfg = s3cfg.replace(f"host_base = {s.s3.endpoint.removeprefix('https://')}",
                              f"host_base = 127.0.0.1:{s3_port}")
        s3cfg = s3cfg.replace(f"host_bucket = {s.s3.endpoint.removeprefix('https://')}",
                              f"host_bucket = 127.0.0.1:{s3_port}")
        (d / "s3cfg").write_text(s3cfg)
        benv = render.render_backup_env(s, host, lay)
        assert "S3CFG=/etc/redis/platform/s3cfg\n" in benv
        benv = benv.replace("S3CFG=/etc/redis/platform/s3cfg\n", f"S3CFG={d}/s3cfg\n")
        (d / "backup.env").write_text(benv)
        (d / "backup.pass").write_text(SECRETS[render.SECRET_BACKUP] + "\n")
        (d / "state").mkdir()
        (d / "textfile").mkdir()
        wait_for("redis", lambda: resp((IPS[0], port), ["PING"])[0] is not None, 10)
        wait_for("moto", lambda: subprocess.run(["s3cmd", "-c", str(d / "s3cfg"), "mb", f"s3://{s.s3.buckets.backups}"],
                                                capture_output=True).returncode == 0, 15, 0.3)
        yield {
            "BACKUP_ENV": str(d / "backup.env"), "PASS_FILE": str(d / "backup.pass"),
            "STATE_DIR": str(d / "state"), "TEXTFILE_DIR": str(d / "textfile"), "PORT": str(port),
            "S3CFG": str(d / "s3cfg"), "BUCKET": s.s3.buckets.backups, "PREFIX": render.backup_prefix(s),
            "IP": IPS[0],
        }
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


def admin(e: dict[str, str], *cmd: str) -> object:
    return resp((e["IP"], int(e["PORT"])), ["AUTH", SECRETS[render.SECRET_ADMIN]], list(cmd))[1]


def run(script: str, e: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **{k: v for k, v in e.items() if k.isupper()})
    # The scripts talk to Redis on 127.0.0.1; the test node listens on its "private" 127.0.0.2.
    text = (FILES / script).read_text().replace("-h 127.0.0.1 -p \"$REDIS_PORT\"", f"-h {e['IP']} -p \"$REDIS_PORT\"")
    return subprocess.run(["bash", "-c", text, script, *args], env=env, capture_output=True, text=True, timeout=120)


def test_backup_acts_on_master_uploads_keeps_retention_and_restore_counts_keys(env: dict[str, str]) -> None:
    for i in range(250):
        assert admin(env, "SET", f"nextcloud:k{i}", "v" * 10) == "OK"
    first = run("redis-backup.sh", env)
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip()
    assert url.startswith(f"s3://{env['BUCKET']}/{env['PREFIX']}") and url.endswith("-redis-1.rdb")
    assert "uploaded" in first.stderr
    assert (Path(env["STATE_DIR"]) / "last-backup").read_text().count("key=s3://") == 1
    assert "platform_redis_backup_last_success_timestamp_seconds" in (
        Path(env["TEXTFILE_DIR"]) / "platform_redis_backup.prom").read_text()

    # Retention 0 days: the next run deletes every older copy but never the newest.
    for i in range(250, 300):
        assert admin(env, "SET", f"mautic:k{i}", "v") == "OK"
    time.sleep(1.1)
    envfile = Path(env["BACKUP_ENV"])
    envfile.write_text(envfile.read_text().replace("RETENTION_DAYS=", "RETENTION_DAYS=0 #"))
    second = run("redis-backup.sh", env)
    assert second.returncode == 0, second.stderr
    listing = subprocess.run(["s3cmd", "-c", env["S3CFG"], "ls", f"s3://{env['BUCKET']}/{env['PREFIX']}"],
                             capture_output=True, text=True, check=True).stdout.split()
    objects = [x for x in listing if x.startswith("s3://")]
    assert objects == [second.stdout.strip()], (objects, second.stderr)

    port = free_port(24379)
    restored = run("redis-restore.sh", env, "--port", str(port))
    assert restored.returncode == 0, restored.stderr
    result = json.loads(restored.stdout.strip().splitlines()[-1])
    assert result["keys_total"] == 300 and result["keys"] == {"db0": 300}
    assert result["object"] == objects[0] and result["pid"] is None


def test_backup_does_nothing_on_a_replica(env: dict[str, str]) -> None:
    # A replica of a master that does not exist still reports role slave.
    assert admin(env, "REPLICAOF", "127.0.0.9", "1") == "OK"
    out = run("redis-backup.sh", env)
    assert out.returncode == 0 and "not the master" in out.stderr and out.stdout == ""
