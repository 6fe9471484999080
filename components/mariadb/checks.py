"""MariadbCluster lines of the checklist: every node up (with Galera: Synced in a Primary component
of every member), each node's health check as the router sees it, the router reaching a writable
node with Mautic's credentials over TLS, the exporter, and the firewall refusing a non-allowed source.

On the hosts, the checks log in as root over the local socket (unix_socket: no password). The router
line runs from the operator's machine (an admin source) with PyMySQL, verifying the server's
certificate against the platform CA read from a database VM; the password comes from the stack
outputs and never reaches a command line.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from components.checks import FAIL, PASS, SKIP, Context, Row, check, first_line
from components.mariadb import names as n
from components.router.render import router_hosts
from components.settings import Host

GROUP = "mariadb"


def status(ctx: Context, host: Host) -> tuple[dict[str, str], str]:
    """SHOW GLOBAL STATUS (wsrep_*) and the version on `host`, or ({}, the error)."""
    sql = "SHOW GLOBAL STATUS LIKE 'wsrep%'; SELECT 'version', VERSION(); SELECT 'read_only', @@read_only"
    p = ctx.sudo(host, f"timeout 10 mariadb --protocol=socket -N -B -e \"{sql}\"", timeout=20)
    if p.returncode != 0:
        return {}, first_line(p.stderr or p.stdout) or f"exit {p.returncode}"
    out = {}
    for line in p.stdout.splitlines():
        parts = line.split("\t", 1)
        if len(parts) == 2:
            out[parts[0].lower()] = parts[1]
    return out, ""


@check(GROUP, "server up; Galera: Synced in a Primary component of every member")
def servers(ctx: Context) -> list[Row]:
    if not ctx.settings.mariadb.enabled:
        return [Row(SKIP, "-", "mariadb.enabled is false")]
    members = len(n.members(ctx.settings))
    rows = []
    for h in n.data_hosts(ctx.settings):
        st, err = status(ctx, h)
        if not st:
            rows.append(Row(FAIL, h.name, err))
            continue
        if not n.galera(ctx.settings):
            ok = st.get("read_only") == "0"
            rows.append(Row(PASS if ok else FAIL, h.name, f"{st.get('version')}, read_only={st.get('read_only')}"))
            continue
        size = st.get("wsrep_cluster_size", "?")
        ok = (st.get("wsrep_local_state") == "4" and st.get("wsrep_cluster_status") == "Primary"
              and st.get("wsrep_ready") == "ON" and size == str(members))
        rows.append(Row(PASS if ok else FAIL, h.name,
                        f"{st.get('version')}: {st.get('wsrep_local_state_comment')}, "
                        f"{st.get('wsrep_cluster_status')}, size {size}/{members}, ready {st.get('wsrep_ready')}"))
    return rows


@check(GROUP, "health check: every node answers the router 200 (writable)")
def health_checks(ctx: Context) -> list[Row]:
    if not ctx.settings.mariadb.enabled:
        return [Row(SKIP, "-", "mariadb.enabled is false")]
    routers = router_hosts(ctx.settings)
    if not routers:
        return [Row(SKIP, "-", "no router VM (router.placement k3s): checked by the K3s component")]
    src = routers[0]
    rows = []
    for h in n.data_hosts(ctx.settings):
        p = ctx.run(src, f"curl -sS --max-time 3 -w ' %{{http_code}}' http://{h.private_ip}:{n.CHECK_PORT}/")
        body = p.stdout.strip()
        rows.append(Row(PASS if body.endswith(" 200") else FAIL, h.name, f"from {src.name}: {body[-140:]}"))
    return rows


def _ca_pem(ctx: Context) -> str:
    p = ctx.sudo(n.data_hosts(ctx.settings)[0], f"cat {n.TLS_DIR}/ca.crt")
    return p.stdout if p.returncode == 0 else ""


@check(GROUP, "router reaches a writable node as mautic over TLS")
def router_listener(ctx: Context) -> list[Row]:
    if not ctx.settings.mariadb.enabled:
        return [Row(SKIP, "-", "mariadb.enabled is false")]
    cred: dict[str, Any] = ctx.outputs.get("mariadbMautic") or {}
    endpoint = ctx.outputs.get("mariadbRouter") or n.router_endpoint(ctx.settings)
    if not cred.get("password"):
        return [Row(SKIP, endpoint, "no mariadbMautic in the outputs (credentials needed)")]
    import pymysql

    ca = _ca_pem(ctx)
    if "BEGIN CERTIFICATE" not in ca:
        return [Row(FAIL, endpoint, "could not read the platform CA from a database VM")]
    host, port = endpoint.rsplit(":", 1)
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(ca)
        f.flush()
        t = time.monotonic()
        try:
            # The certificate names the node, not the router's address: verify the CA, not the name.
            conn = pymysql.connect(host=host, port=int(port), user=cred["user"], password=cred["password"],
                                   database=cred.get("database", n.DATABASE), connect_timeout=5, read_timeout=5,
                                   ssl={"ca": f.name, "check_hostname": False})
        except pymysql.MySQLError as e:
            return [Row(FAIL, endpoint, f"{type(e).__name__}: {e}")]
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@hostname, @@read_only, "
                        "(SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
                        " WHERE VARIABLE_NAME = 'Ssl_version')")
            hostname, read_only, tls = cur.fetchone()
    finally:
        conn.close()
    names = {h.name for h in n.data_hosts(ctx.settings)}
    ok = hostname in names and read_only == 0 and bool(tls)
    return [Row(PASS if ok else FAIL, endpoint,
                f"as {cred['user']}: on {hostname}, read_only={read_only}, {tls or 'no TLS'} "
                f"({(time.monotonic() - t) * 1000:.0f} ms)")]


@check(GROUP, "exporter: mysql_up 1 on every node")
def exporters(ctx: Context) -> list[Row]:
    if not ctx.settings.mariadb.enabled:
        return [Row(SKIP, "-", "mariadb.enabled is false")]
    rows = []
    for h in n.data_hosts(ctx.settings):
        p = ctx.run(h, f"curl -sS --max-time 5 http://{h.private_ip}:{n.EXPORTER_PORT}/metrics")
        up = next((ln for ln in p.stdout.splitlines() if ln.startswith("mysql_up ")), "")
        rows.append(Row(PASS if up == "mysql_up 1" else FAIL, h.name, up or first_line(p.stderr) or "no mysql_up"))
    return rows


def _probe(ip: str, port: int) -> str:
    """What a TCP connect to ip:port gives from the host it runs on: the server's first bytes
    (MariaDB greets first), or the error."""
    connect = f"exec 3<>/dev/tcp/{ip}/{port} && timeout 2 head -c 64 <&3 | tr -c '[:print:]' '.'"
    return (f"r=$(timeout 4 bash -c '{connect}' 2>&1); rc=$?; "
            "printf '%s rc=%s\\n' \"$(printf %s \"$r\" | head -c 80)\" \"$rc\"")


@check(GROUP, "firewall: 3306 refused to a non-allowed source")
def firewall(ctx: Context) -> list[Row]:
    """The same port answers an allowed source (a router VM) and is refused to a Redis VM."""
    if not ctx.settings.mariadb.enabled:
        return [Row(SKIP, "-", "mariadb.enabled is false")]
    routers = router_hosts(ctx.settings)
    denied = ctx.settings.hosts["redis"] or ctx.settings.hosts["monitoring"]
    if not routers or not denied:
        return [Row(SKIP, "-", "needs a router VM and a non-allowed VM to probe from")]
    rows = []
    for h in n.data_hosts(ctx.settings):
        a = ctx.run(routers[0], _probe(h.private_ip, n.MARIADB_PORT)).stdout.strip()
        d = ctx.run(denied[0], _probe(h.private_ip, n.MARIADB_PORT)).stdout.strip()
        answered = "mariadb" in a.lower() or "mysql" in a.lower()
        refused = not d.endswith("rc=0")
        rows.append(Row(PASS if answered and refused else FAIL, f"{h.name}:{n.MARIADB_PORT}",
                        f"{routers[0].name}: {a[:60]}; {denied[0].name}: {d[:60]}"))
    return rows


def _list_backups(ctx: Context, host: Host) -> tuple[int, list[tuple[str, int, str]], str]:
    from components.mariadb.render.backup import S3CFG

    url = f"s3://{ctx.settings.s3.buckets.backups}/{n.backup_prefix(ctx.settings)}"
    p = ctx.sudo(host, f"s3cmd -c {S3CFG} ls --recursive {url}", timeout=60)
    objs = []
    for ln in p.stdout.splitlines():
        parts = ln.split()
        if len(parts) >= 4 and parts[3].endswith(".xb.gz") and parts[2].isdigit():
            objs.append((parts[3], int(parts[2]), f"{parts[0]} {parts[1]}"))
    return p.returncode, sorted(objs, key=lambda o: o[0].rsplit("/", 1)[-1]), p.stderr


@check(GROUP, "backup: a full mariadb-backup in the backup bucket")
def latest_backup(ctx: Context) -> list[Row]:
    if not ctx.settings.mariadb.enabled:
        return [Row(SKIP, "-", "mariadb.enabled is false")]
    data = n.data_hosts(ctx.settings)
    host = data[0]
    rc, objs, err = _list_backups(ctx, host)
    if rc != 0:
        return [Row(FAIL, host.name, f"s3cmd ls failed: {first_line(err)}")]
    note = ""
    if not any(o[0].endswith("-full.xb.gz") for o in objs):
        # None yet (the daily timer has not fired on a fresh stack): one full backup now. Every node
        # runs it; only the designated node acts.
        codes = [ctx.sudo(h, "systemctl start platform-mariadb-backup-full.service", timeout=900).returncode
                 for h in data]
        note = f" (none before: started platform-mariadb-backup-full on every node, exit {codes})"
        rc, objs, err = _list_backups(ctx, host)
    fulls = [o for o in objs if o[0].endswith("-full.xb.gz")]
    if not fulls:
        return [Row(FAIL, host.name, f"no full backup under s3://{ctx.settings.s3.buckets.backups}/"
                                     f"{n.backup_prefix(ctx.settings)}{note}")]
    url, size, when = fulls[-1]
    return [Row(PASS if size > 0 else FAIL, host.name,
                f"{'/'.join(url.rsplit('/', 2)[-2:])} {size} bytes, {when}; {len(objs)} object(s){note}")]
