"""RedisSentinelCluster lines of the checklist (issue 5): master and replica running, replication
healthy, every Sentinel monitoring the master (`SENTINEL CKQUORUM`), exporters up, AOF + RDB on,
the firewall refusing a non-allowed source, a latest RDB in the backup bucket, the router's
listener on the master.

Credentials never leave the hosts: redis-cli reads the password of the read-only `exporter` ACL
user on the host itself (from the exporter's defaults file) into REDISCLI_AUTH; Sentinel has no
password. The router line, run from the operator's machine (an admin source), authenticates as
an app user from the stack outputs over a plain socket: the password is never on a command line.
"""

from __future__ import annotations

import shlex
import socket
import ssl
import time
from collections import Counter
from typing import Any

from components.checks import FAIL, PASS, SKIP, Context, Row, check, first_line
from components.redis import render
from components.router.render import router_hosts
from components.settings import Host

GROUP = "redis"
EXPORTER_DEFAULTS = "/etc/default/prometheus-redis-exporter"
BACKUP_UNIT = "platform-redis-backup.service"
S3CFG = "/etc/redis/platform/s3cfg"
MAX_LAG_BYTES = 1 << 20  # a replica further behind than this (idle lab, seconds after a write) is not "healthy"
MAX_LAG_SECONDS = 2


# --- helpers ------------------------------------------------------------------------------------


def _tls(ctx: Context) -> str:
    return render.cli_tls_args(ctx.settings)


def redis_cli(ctx: Context, host: Host, *args: str, port: int = render.REDIS_PORT,
              user: str = "exporter", timeout: float = 15) -> tuple[int, str, str]:
    """redis-cli on `host` against 127.0.0.1:port (root shell). user 'exporter' reads that user's
    password on the host into REDISCLI_AUTH; user '' connects without credentials (Sentinel)."""
    cli = f"timeout 10 redis-cli {_tls(ctx)} -h 127.0.0.1 -p {port}".replace("  ", " ")
    if user == "exporter":
        script = (f"pw=$(sed -n 's/^REDIS_PASSWORD=//p' {EXPORTER_DEFAULTS} | tr -d '\"'); "
                  "REDISCLI_AUTH=$pw; export REDISCLI_AUTH; unset pw; "
                  f"{cli} --no-auth-warning --user exporter {shlex.join(args)}")
    else:
        script = f"{cli} {shlex.join(args)}"
    p = ctx.sudo(host, script, timeout=timeout)
    return p.returncode, p.stdout.replace("\r", ""), p.stderr.replace("\r", "")


def info_fields(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def _kv(text: str) -> dict[str, str]:
    """'ip=1.2.3.4,port=6379,state=online' -> dict."""
    return dict(p.split("=", 1) for p in text.split(",") if "=" in p)


def sentinel_master(ctx: Context, host: Host) -> str | None:
    rc, out, _ = redis_cli(ctx, host, "SENTINEL", "get-master-addr-by-name", ctx.settings.redis.master_name,
                           port=render.SENTINEL_PORT, user="")
    parts = out.split()
    return f"{parts[0]}:{parts[1]}" if rc == 0 and len(parts) == 2 else None


def current_master(ctx: Context) -> tuple[str | None, dict[str, str | None]]:
    """The master address most Sentinels report (cached per run), and each Sentinel's answer."""
    if "redis_master" not in ctx.notes:
        answers = {h.name: sentinel_master(ctx, h) for h in render.sentinel_hosts(ctx.settings)}
        votes = Counter(a for a in answers.values() if a)
        ctx.notes["redis_master"] = (votes.most_common(1)[0][0] if votes else None, answers)
    return ctx.notes["redis_master"]  # type: ignore[no-any-return]


def _data_by_ip(ctx: Context) -> dict[str, Host]:
    return {f"{h.private_ip}:{render.REDIS_PORT}": h for h in render.data_hosts(ctx.settings)}


# --- checks -------------------------------------------------------------------------------------


@check(GROUP, "redis-server running: one master, the rest replicas")
def servers_running(ctx: Context) -> list[Row]:
    rows = []
    masters = []
    for h in render.data_hosts(ctx.settings):
        active = ctx.run(h, "systemctl is-active redis-server").stdout.strip()
        rc, out, err = redis_cli(ctx, h, "INFO", "replication")
        role = info_fields(out).get("role", "?") if rc == 0 else "?"
        if role == "master":
            masters.append(h.name)
        ok = active == "active" and role in ("master", "slave")
        rows.append(Row(PASS if ok else FAIL, h.name,
                        f"redis-server {active}, role {role}" if rc == 0 else
                        f"redis-server {active}; INFO failed: {first_line(err or out)}"))
    if len(masters) != 1:
        rows.append(Row(FAIL, "-", f"{len(masters)} masters among the data nodes: {masters}"))
    return rows


@check(GROUP, "INFO replication: replicas linked, lag small")
def replication_healthy(ctx: Context) -> list[Row]:
    master, _ = current_master(ctx)
    data = _data_by_ip(ctx)
    if master is None or master not in data:
        return [Row(FAIL, "-", f"Sentinels report master {master}, not a data node")]
    mh = data[master]
    rc, out, err = redis_cli(ctx, mh, "INFO", "replication")
    if rc != 0:
        return [Row(FAIL, mh.name, f"INFO failed: {first_line(err or out)}")]
    f = info_fields(out)
    rows = []
    offset = int(f.get("master_repl_offset", "0") or 0)
    slaves = {(_kv(v).get("ip", "?")): _kv(v) for k, v in f.items() if k.startswith("slave") and k[5:].isdigit()}
    want = [h for a, h in data.items() if a != master]
    ok = f.get("role") == "master" and int(f.get("connected_slaves", "0") or 0) >= len(want)
    rows.append(Row(PASS if ok else FAIL, mh.name,
                    f"role {f.get('role')}, connected_slaves {f.get('connected_slaves')}, offset {offset}"))
    for h in want:
        s = slaves.get(h.private_ip)
        if s is None:
            rows.append(Row(FAIL, h.name, f"not among the master's replicas ({sorted(slaves)})"))
            continue
        lag_bytes = offset - int(s.get("offset", "0") or 0)
        lag_s = int(s.get("lag", "99") or 99)
        rc2, out2, err2 = redis_cli(ctx, h, "INFO", "replication")
        r = info_fields(out2) if rc2 == 0 else {}
        link = r.get("master_link_status", "?")
        ok = (s.get("state") == "online" and link == "up" and lag_bytes <= MAX_LAG_BYTES
              and lag_s <= MAX_LAG_SECONDS and r.get("master_host") == mh.private_ip)
        rows.append(Row(PASS if ok else FAIL, h.name,
                        f"state {s.get('state')}, link {link} to {r.get('master_host')}, "
                        f"lag {lag_bytes} bytes / {lag_s}s"))
    return rows


@check(GROUP, "every Sentinel monitors the master (CKQUORUM)")
def sentinels_quorum(ctx: Context) -> list[Row]:
    master, answers = current_master(ctx)
    name = ctx.settings.redis.master_name
    rows = []
    for h in render.sentinel_hosts(ctx.settings):
        rc, out, err = redis_cli(ctx, h, "SENTINEL", "CKQUORUM", name, port=render.SENTINEL_PORT, user="")
        ok = rc == 0 and out.startswith("OK") and answers.get(h.name) == master and master is not None
        rows.append(Row(PASS if ok else FAIL, h.name,
                        f"master {answers.get(h.name)}; {first_line(out or err)}"))
    return rows


@check(GROUP, "redis_exporter up (from monitoring)")
def exporters_up(ctx: Context) -> list[Row]:
    mon = ctx.settings.hosts["monitoring"][0]
    targets = [(h, render.EXPORTER_PORT, "redis") for h in render.data_hosts(ctx.settings)]
    targets += [(h, render.SENTINEL_EXPORTER_PORT, "sentinel") for h in render.sentinel_hosts(ctx.settings)]
    rows = []
    for h, port, kind in targets:
        p = ctx.run(mon, f"curl -sS --max-time 5 http://{h.private_ip}:{port}/metrics | "
                         "grep -E '^redis_up |^redis_sentinel_masters ' || true")
        got = {ln.split()[0]: ln.split()[1] for ln in p.stdout.splitlines() if len(ln.split()) == 2}
        ok = got.get("redis_up") == "1" and (kind == "redis" or float(got.get("redis_sentinel_masters", "0")) >= 1)
        rows.append(Row(PASS if ok else FAIL, h.name,
                        f"{kind} :{port} from {mon.name}: " + (", ".join(f"{k} {v}" for k, v in got.items())
                                                                 or first_line(p.stderr) or "no redis_up")))
    return rows


@check(GROUP, "persistence: AOF and RDB enabled")
def persistence(ctx: Context) -> list[Row]:
    rows = []
    for h in render.data_hosts(ctx.settings):
        rc, out, err = redis_cli(ctx, h, "CONFIG", "GET", "appendonly")
        rc2, out2, err2 = redis_cli(ctx, h, "CONFIG", "GET", "save")
        aof = out.split("\n")[1].strip() if rc == 0 and len(out.split("\n")) > 1 else "?"
        save = out2.split("\n", 1)[1].strip() if rc2 == 0 and "\n" in out2 else ""
        ok = aof == "yes" and bool(save)
        rows.append(Row(PASS if ok else FAIL, h.name,
                        f"appendonly {aof}, save '{save}'" if rc == 0 and rc2 == 0
                        else first_line(err or err2 or out or out2)))
    return rows


def _probe(ip: str, port: int) -> str:
    """Remote shell snippet: connect, send PING, print the first reply line (or the error) and rc."""
    connect = f"exec 3<>/dev/tcp/{ip}/{port} && printf \"PING\\r\\n\" >&3 && timeout 2 head -n1 <&3"
    return (f"r=$(timeout 4 bash -c '{connect}' 2>&1); rc=$?; "
            "printf '%s rc=%s\\n' \"$(printf %s \"$r\" | tr '\\r\\n' '  ' | head -c 120)\" \"$rc\"")


@check(GROUP, "firewall: 6379/26379 refused to a non-allowed source")
def firewall(ctx: Context) -> list[Row]:
    """The same port at the same moment answers an allowed source (a router host, or another Redis
    VM) and is refused to a PostgreSQL VM: so the refusal is the firewall's."""
    allowed_src = (router_hosts(ctx.settings) or ctx.settings.hosts["redis"])[0]
    others = [h for h in ctx.settings.hosts["postgres"] + ctx.settings.hosts["monitoring"]
              if h.name != allowed_src.name]
    if not others:
        return [Row(SKIP, "-", "no non-allowed VM to probe from")]
    denied_src = others[0]
    rows = []
    targets = [(h, render.REDIS_PORT) for h in render.data_hosts(ctx.settings)]
    targets += [(h, render.SENTINEL_PORT) for h in render.sentinel_hosts(ctx.settings)]
    for h, port in targets:
        a = ctx.run(allowed_src, _probe(h.private_ip, port)).stdout.strip()
        d = ctx.run(denied_src, _probe(h.private_ip, port)).stdout.strip()
        d = d.split(" bash: line")[0] + (" rc=" + d.rsplit("rc=", 1)[-1] if " bash: line" in d else "")
        # Redis answers an unauthenticated PING with -NOAUTH; Sentinel (no password) with +PONG.
        answered = a.startswith("-NOAUTH") or a.startswith("+PONG")
        refused = not d.startswith(("-", "+")) and not d.endswith("rc=0")
        rows.append(Row(PASS if answered and refused else FAIL, f"{h.name}:{port}",
                        f"{allowed_src.name}: {a[:60]}; {denied_src.name}: {d[:70]}"))
    return rows


def _list_rdbs(ctx: Context, host: Host) -> tuple[int, list[tuple[str, int, str]], str]:
    bucket = ctx.settings.s3.buckets.backups
    prefix = render.backup_prefix(ctx.settings)
    p = ctx.sudo(host, f"s3cmd -c {S3CFG} ls s3://{bucket}/{prefix}", timeout=60)
    objs = []
    for ln in p.stdout.splitlines():
        parts = ln.split()
        if len(parts) >= 4 and parts[3].endswith(".rdb") and parts[2].isdigit():
            objs.append((parts[3], int(parts[2]), f"{parts[0]} {parts[1]}"))
    return p.returncode, sorted(objs), p.stderr


@check(GROUP, "backup: a latest RDB in the backup bucket")
def latest_rdb(ctx: Context) -> list[Row]:
    master, _ = current_master(ctx)
    data = _data_by_ip(ctx)
    mh = data.get(master or "") or render.data_hosts(ctx.settings)[0]
    rc, objs, err = _list_rdbs(ctx, mh)
    if rc != 0:
        return [Row(FAIL, mh.name, f"s3cmd ls failed: {first_line(err)}")]
    note = ""
    if not objs:
        # None yet (the daily timer has not fired on a fresh stack): take one backup now, once.
        p = ctx.sudo(mh, f"systemctl start {BACKUP_UNIT}", timeout=900)
        note = f" (none before: started {BACKUP_UNIT} on {mh.name}, exit {p.returncode})"
        rc, objs, err = _list_rdbs(ctx, mh)
    if not objs:
        return [Row(FAIL, mh.name, f"no .rdb under s3://{ctx.settings.s3.buckets.backups}/"
                                   f"{render.backup_prefix(ctx.settings)}{note}")]
    url, size, when = objs[-1]
    return [Row(PASS if size > 0 else FAIL, mh.name, f"{url.rsplit('/', 1)[-1]} {size} bytes, {when}; "
                                                     f"{len(objs)} cop(y/ies){note}")]


# --- the router's listener (checked from this machine, an admin source) -----------------------------


def _resp(args: list[str]) -> bytes:
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        b = a.encode()
        out += b"$" + str(len(b)).encode() + b"\r\n" + b + b"\r\n"
    return out


def _read_reply(f: Any) -> Any:
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:].rstrip(b"\r\n")
    if kind in (b"+", b"-", b":"):
        return (kind + rest).decode()
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    if kind == b"*":
        return [_read_reply(f) for _ in range(int(rest))]
    raise ConnectionError(f"unexpected reply {line[:40]!r}")


def resp_session(host: str, port: int, user: str, password: str, commands: list[list[str]],
                 timeout: float = 5, tls_ca: str | None = None) -> list[Any]:
    """AUTH then each command over one connection; the replies (strings, errors as '-ERR ...')."""
    sock = socket.create_connection((host, port), timeout=timeout)
    if tls_ca:
        c = ssl.create_default_context(cafile=tls_ca)
        c.check_hostname = False
        sock = c.wrap_socket(sock)
    with sock, sock.makefile("rb") as f:
        sock.sendall(_resp(["AUTH", user, password]))
        auth = _read_reply(f)
        if auth != "+OK":
            raise PermissionError(f"AUTH as {user}: {auth}")
        replies = []
        for cmd in commands:
            sock.sendall(_resp(cmd))
            replies.append(_read_reply(f))
        return replies


@check(GROUP, "router listener reaches the master")
def router_listener(ctx: Context) -> list[Row]:
    apps = ctx.outputs.get("redisApps") or {}
    endpoint = ctx.outputs.get("redisRouter") or render.router_endpoint(ctx.settings)
    if not apps:
        return [Row(SKIP, "-", "no redisApps in the outputs (credentials needed)")]
    if ctx.settings.redis.tls:
        return [Row(SKIP, "-", "redis.tls: checked by the drills")]
    master, _ = current_master(ctx)
    mh = _data_by_ip(ctx).get(master or "")
    if mh is None:
        return [Row(FAIL, "-", f"no master known ({master})")]
    rc, out, _ = redis_cli(ctx, mh, "INFO", "server")
    want = info_fields(out).get("run_id")
    app, cred = sorted(apps.items())[0]
    host, port = endpoint.rsplit(":", 1)
    t = time.monotonic()
    try:
        server, repl = resp_session(host, int(port), cred["user"], cred["password"],
                                    [["INFO", "server"], ["INFO", "replication"]])
    except (OSError, ConnectionError, PermissionError) as e:
        return [Row(FAIL, endpoint, f"{type(e).__name__}: {e}")]
    got = info_fields(str(server).replace("\r", "")).get("run_id")
    role = info_fields(str(repl).replace("\r", "")).get("role")
    ok = role == "master" and got == want and rc == 0
    return [Row(PASS if ok else FAIL, endpoint,
                f"as {app}: role {role}, run_id {'= ' + mh.name + chr(39) + 's' if got == want else got}"
                f" ({(time.monotonic() - t) * 1000:.0f} ms)")]
