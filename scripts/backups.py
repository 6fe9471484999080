"""Backups report: for every data store the stack runs, the newest backup, its age against the
configured schedule (OK / LATE / MISSING), its size, the retention in force, and the last restore
drill's result and date; the Nextcloud bucket's versioning state.

    scripts/backups --stack NAME [--json] [--now EPOCH]

Asks the stack's hosts over SSH like `scripts/verify` (pgBackRest on the PostgreSQL leader, s3cmd
with the hosts' own S3 configuration, `k3s etcd-snapshot ls` on the first server). Exit code 1 when
any store is LATE or MISSING. `--now` judges the ages at another time (what the report will say
then; the lab test moves it past a schedule).
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components import backups as b  # noqa: E402
from components.checks import Context, first_line  # noqa: E402
from components.cron import max_interval_seconds  # noqa: E402

REDIS_S3CFG = "/etc/redis/platform/s3cfg"  # the Redis VMs' s3cmd configuration (backups bucket)


def _s3cmd_time(text: str) -> float:
    """s3cmd ls's `YYYY-MM-DD HH:MM` (UTC) -> epoch seconds."""
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M")))


def last_drill(ctx: Context, store: str) -> dict[str, Any] | None:
    from components.redis import render as redis_render

    host = redis_render.data_hosts(ctx.settings)[0]
    url = f"s3://{ctx.settings.s3.buckets.backups}/{b.DRILLS_PREFIX}{store}.json"
    p = ctx.sudo(host, f"s3cmd -c {REDIS_S3CFG} --no-progress get {url} - 2>/dev/null || true", timeout=60)
    try:
        return json.loads(p.stdout) if p.stdout.strip() else None  # type: ignore[no-any-return]
    except json.JSONDecodeError:
        return None


def _listing_report(ctx: Context, store: str, listed: tuple[int, list[tuple[str, int, str]], str], name_parts: int,
                    now: float, max_age: int, retention: str) -> b.StoreReport:
    """A store whose backups are objects: an s3cmd listing (exit code, [(url, size, time)], stderr)
    from the component's checks; the newest object named by the last `name_parts` of its key."""
    rc, objs, err = listed
    newest = None
    if objs:
        url, size, when = max(objs, key=lambda o: (_s3cmd_time(o[2]), o[0]))
        newest = (_s3cmd_time(when), "/".join(url.rsplit("/", name_parts)[-name_parts:]), size)
    return b.report(store, newest, now, max_age, retention, last_drill(ctx, store),
                    "" if rc == 0 else f"s3cmd ls: {first_line(err)}")


def postgres(ctx: Context, now: float) -> b.StoreReport:
    from components.postgres.alerts import backup_max_age_seconds
    from components.postgres.checks import _leader

    s = ctx.settings
    leader = _leader(ctx)
    retention = f"{s.postgres.backup.retention_full} full backups (pgBackRest, with their WAL)"
    if leader is None:
        return b.StoreReport("postgres", b.MISSING, None, None, None, backup_max_age_seconds(s), None, retention,
                             last_drill(ctx, "postgres"), "no running leader to ask")
    p = ctx.sudo(leader, f"runuser -u postgres -- pgbackrest --stanza={s.postgres.cluster_name} --output=json info",
                 timeout=60)
    try:
        info = json.loads(p.stdout)[0]
    except (json.JSONDecodeError, IndexError):
        info = {}
    done = [x for x in info.get("backup", []) if not x.get("error")]
    newest = None
    if done:
        x = max(done, key=lambda x: x["timestamp"]["stop"])
        newest = (float(x["timestamp"]["stop"]), f"{x['label']} ({x['type']})",
                  int(x.get("info", {}).get("repository", {}).get("delta", 0)))
    detail = "" if info else f"pgbackrest info: {first_line(p.stderr or p.stdout)}"
    return b.report("postgres", newest, now, backup_max_age_seconds(s), retention, last_drill(ctx, "postgres"), detail)


def redis(ctx: Context, now: float) -> b.StoreReport:
    from components.redis import render as redis_render
    from components.redis.alerts import backup_max_age_seconds
    from components.redis.checks import _data_by_ip, _list_rdbs, current_master

    s = ctx.settings
    master, _ = current_master(ctx)
    host = _data_by_ip(ctx).get(master or "") or redis_render.data_hosts(s)[0]
    return _listing_report(ctx, "redis", _list_rdbs(ctx, host), 1, now, backup_max_age_seconds(s),
                           f"{s.redis.backup_retention_days} days (the newest always)")


def mariadb(ctx: Context, now: float) -> b.StoreReport:
    from components.mariadb import names as n
    from components.mariadb.alerts import backup_max_age_seconds
    from components.mariadb.checks import _list_backups

    s = ctx.settings
    if not s.mariadb.enabled:
        return b.off("mariadb", "mariadb.enabled is false")
    return _listing_report(ctx, "mariadb", _list_backups(ctx, n.data_hosts(s)[0]), 2, now,
                           backup_max_age_seconds(s), f"{s.mariadb.retention_days} days of chains (the newest always)")


def k3s(ctx: Context, now: float) -> b.StoreReport:
    from components.k3s import names as n
    from components.k3s.checks import newest_snapshot

    s = ctx.settings
    if not s.k3s.enabled:
        return b.off("k3s-etcd", "k3s.enabled is false")
    p = ctx.sudo(n.first_server(s), f"{n.BINARY} etcd-snapshot ls", timeout=120)
    return b.report("k3s-etcd", newest_snapshot(p.stdout), now,
                    max_interval_seconds(s.k3s.snapshot_schedule) + 1800,
                    f"{s.k3s.snapshot_retention} per server (K3s)", None,
                    "" if p.returncode == 0 else first_line(p.stderr or p.stdout))


def nextcloud_versioning(ctx: Context) -> str:
    """The Nextcloud bucket's versioning state (S3 GetBucketVersioning, signed by curl with the
    Redis VMs' s3cmd keys, which stay on the host)."""
    from components.redis import render as redis_render

    s = ctx.settings
    host = redis_render.data_hosts(s)[0]
    url = f"{s.s3.endpoint}/{s.s3.buckets.nextcloud}?versioning"
    script = (f"cfg={REDIS_S3CFG}; ak=$(sed -n 's/^access_key = //p' $cfg); sk=$(sed -n 's/^secret_key = //p' $cfg); "
              "ca=$(sed -n 's/^ca_certs_file = //p' $cfg); "
              "printf 'user = \"%s:%s\"\\n' \"$ak\" \"$sk\" | "
              f"curl -sS --max-time 10 ${{ca:+--cacert $ca}} --aws-sigv4 aws:amz:{s.s3.region}:s3 -K - '{url}'")
    p = ctx.sudo(host, script, timeout=30)
    if p.returncode != 0:
        return f"unknown ({first_line(p.stderr)})"
    if "<Status>Enabled</Status>" in p.stdout:
        return "Enabled"
    return "Suspended" if "<Status>Suspended</Status>" in p.stdout else "off"


def collect(ctx: Context, now: float) -> tuple[list[b.StoreReport], str]:
    reports = [postgres(ctx, now), redis(ctx, now), mariadb(ctx, now), k3s(ctx, now)]
    return reports, nextcloud_versioning(ctx)


def main(argv: list[str] | None = None) -> int:
    from scripts.verify import make_context

    ap = argparse.ArgumentParser(prog="scripts/backups", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--stack", required=True)
    ap.add_argument("--identity", help="SSH private key for a real stack (default: your agent)")
    ap.add_argument("--outputs", help="JSON of `pulumi stack output --json --show-secrets`")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    ap.add_argument("--now", type=float, help="judge the ages at this time (epoch seconds)")
    args = ap.parse_args(argv)
    ctx = make_context(args.stack, args.identity, args.outputs)
    reports, versioning = collect(ctx, args.now if args.now is not None else time.time())
    if args.json:
        out = json.loads(b.as_json(reports))
        out["nextcloudBucketVersioning"] = versioning
        print(json.dumps(out, sort_keys=True))
    else:
        print(b.table(reports))
        print(f"\nnextcloud bucket {ctx.settings.s3.buckets.nextcloud}: versioning {versioning}")
        bad = b.failing(reports)
        print(f"{'LATE or MISSING: ' + ', '.join(bad) if bad else 'every store OK'}")
    return 1 if b.failing(reports) else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
