"""MariaDB drills on the lab (issue 15): mariadb-node-death, mariadb-partition, mariadb-restore.

Run with `scripts/drill NAME --stack lab [--runs N]`. The client runs on this machine (an admin
source of the router's `mariadb_rw` listener) with PyMySQL over TLS as Mautic: a writer inserts one
row every 100 ms with its own connection (reconnecting after any error) while a load thread commits
50-row transactions. Acknowledged write: the INSERT's COMMIT returned. After the run every
acknowledged row must be in the table, read through the router from whichever node serves then.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.drills import alerts
from scripts.drills.common import DrillError, Expect, Lab, drill, log, wait_for
from scripts.drills.mariadb_probe import insert_every

WRITE_INTERVAL = 0.1
TARGET_SECONDS = 15.0
RECOVERY_TIMEOUT = 90.0
REJOIN_TIMEOUT = 300.0
TABLE = "platform_drill_writes"


@dataclass
class Writes:
    attempts: list[tuple[float, bool, str]] = field(default_factory=list)  # (time, ok, error)
    acked: set[int] = field(default_factory=set)

    def recovery(self, fault: float) -> float | None:
        """Seconds from the fault to the first success after the first failure since it (0 when
        no write failed), None if none succeeded again."""
        after = [a for a in self.attempts if a[0] >= fault]
        first_fail = next((i for i, a in enumerate(after) if not a[1]), None)
        if first_fail is None:
            return 0.0 if after else None
        ok = next((a for a in after[first_fail:] if a[1]), None)
        return round(ok[0] - fault, 2) if ok else None


class Client:
    """Connections through the router as Mautic (TLS, CA from a database VM)."""

    def __init__(self, lab: Lab) -> None:
        cred = lab.outputs.get("mariadbMautic") or {}
        if not cred.get("password"):
            raise DrillError("no mariadbMautic credentials in the stack outputs")
        self.cred = cred
        host, port = (lab.outputs.get("mariadbRouter") or "").rsplit(":", 1)
        self.host, self.port = host, int(port)
        from components.mariadb import names as n

        ca = lab.sudo(n.data_hosts(lab.settings)[0], f"cat {n.TLS_DIR}/ca.crt").stdout
        if "BEGIN CERTIFICATE" not in ca:
            raise DrillError("could not read the platform CA from a database VM")
        self._ca = tempfile.NamedTemporaryFile("w", suffix=".pem")  # noqa: SIM115 - lives as long as the client
        self._ca.write(ca)
        self._ca.flush()

    def connect(self, timeout: float = 2.0) -> Any:
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.cred["user"],
                               password=self.cred["password"], database=self.cred["database"],
                               connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout,
                               autocommit=True, ssl={"ca": self._ca.name, "check_hostname": False})

    def query(self, sql: str, args: Any = None) -> list[Any]:
        conn = self.connect(timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def close(self) -> None:
        self._ca.close()


def _writer(client: Client, run: str, stop: threading.Event, out: Writes) -> None:
    def report(t: float, ok: bool, seq: int, error: str) -> None:
        if ok:
            out.acked.add(seq)
        out.attempts.append((t, ok, error))

    insert_every(client.connect, TABLE, run, WRITE_INTERVAL, lambda: not stop.is_set(), stop.wait, report)


def ensure_table(client: Client) -> None:
    client.query(f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                 "run VARCHAR(32) NOT NULL, seq INT NOT NULL, at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP(3), "
                 "KEY (run)) ENGINE=InnoDB")


def present_seqs(client: Client, run: str) -> set[int]:
    """The sequence numbers of `run`'s rows in the table, read through the router."""
    return {int(r[0]) for r in client.query(f"SELECT seq FROM {TABLE} WHERE run = %s", (run,))}


def wait_synced(lab: Lab, host: Any) -> float | None:
    """Seconds until `host` is Synced in a cluster of every member again (REJOIN_TIMEOUT), or None."""
    from components.mariadb import names as n

    members = str(len(n.members(lab.settings)))
    t0 = time.monotonic()

    def synced() -> bool:
        try:
            st = cluster_state(lab, host)
        except Exception:  # noqa: BLE001 - a host still booting
            return False
        return st.get("wsrep_local_state") == "4" and st.get("wsrep_cluster_size") == members

    return round(time.monotonic() - t0, 1) if wait_for(synced, REJOIN_TIMEOUT, 1.0) else None


def _load(client: Client, run: str, stop: threading.Event, counts: dict[str, int]) -> None:
    conn = None
    while not stop.is_set():
        try:
            if conn is None:
                conn = client.connect()
            conn.begin()
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {TABLE} (run, seq) VALUES (%s, %s)",
                                [(f"{run}-load", -i) for i in range(1, 51)])
            conn.commit()
            counts["committed"] = counts.get("committed", 0) + 1
        except Exception:  # noqa: BLE001
            counts["aborted"] = counts.get("aborted", 0) + 1
            conn = None
            stop.wait(0.2)


def writer_node(client: Client) -> str | None:
    try:
        return str(client.query("SELECT @@hostname")[0][0])
    except Exception:  # noqa: BLE001
        return None


def cluster_state(lab: Lab, host: Any) -> dict[str, str]:
    from components.mariadb.checks import status

    st, _ = status(lab.ctx, host)
    return st


class MariadbWriter:
    """A writer through the router (one row every 100 ms) for a drill about more than MariaDB."""

    def __init__(self, client: Client, run: str) -> None:
        self.client, self.run = client, run
        self.writes, self.stop_ev = Writes(), threading.Event()
        self.thread = threading.Thread(target=_writer, args=(client, run, self.stop_ev, self.writes), daemon=True)

    @classmethod
    def start(cls, lab: Lab, run: str) -> MariadbWriter:
        client = Client(lab)
        ensure_table(client)
        w = cls(client, f"{run[:24]}-m")
        w.thread.start()
        return w

    def warm(self) -> bool:
        return wait_for(lambda: len(self.writes.acked) >= 10, 20, 0.1)

    def back_since(self, t: float) -> float | None:
        """Epoch of the first acknowledged write at or after `t`, None before one."""
        return next((a[0] for a in list(self.writes.attempts) if a[0] >= t and a[1]), None)

    def stop(self) -> None:
        self.stop_ev.set()
        self.thread.join(timeout=15)

    def result(self, lab: Lab, since: float) -> dict[str, Any]:
        """Seconds from `since` to writes back, acknowledged writes lost, every node Synced again."""
        from components.mariadb import names as n

        back = self.back_since(since) if since else None
        out: dict[str, Any] = {"mariadb_seconds": round(back - since, 2) if back is not None else None,
                               "mariadb_acked": len(self.writes.acked)}
        try:
            present = present_seqs(self.client, self.run)
            lost = sorted(self.writes.acked - present)
            self.client.query(f"DELETE FROM {TABLE} WHERE run = %s", (self.run,))
        except Exception as e:  # noqa: BLE001 - reported, and the drill fails
            out["mariadb_error"] = str(e)[:200]
            lost = sorted(self.writes.acked)
        synced = {h.name: wait_synced(lab, h) for h in n.data_hosts(lab.settings)}
        out.update({"mariadb_acked_lost": len(lost), "mariadb_synced_seconds": synced,
                    "mariadb_passed": back is not None and not lost and all(v is not None for v in synced.values())})
        self.client.close()
        return out


@drill("mariadb-node-death", Expect("HostDown", critical=True, await_resolution=True))
def node_death(lab: Lab) -> dict[str, Any]:
    """The VM of the node the router writes to dies (SIGKILL of the lab host) while a client writes
    through the router every 100 ms and a load commits 50-row transactions; seconds until writes
    succeed again, acknowledged writes missing afterwards, seconds until the node is Synced again."""
    from components.mariadb import names as n
    from scripts.lablib.api import host_pid, start, stop
    from scripts.lablib.inventory import find_host

    if not n.galera(lab.settings):
        raise DrillError("needs Galera (two or more database VMs)")
    client = Client(lab)
    run = f"death-{uuid.uuid4().hex[:8]}"
    res: dict[str, Any] = {"run_id": run}
    try:
        ensure_table(client)
        victim = writer_node(client)
        if victim not in {h.name for h in n.data_hosts(lab.settings)}:
            raise DrillError(f"the router's writer is {victim!r}, not a database VM")
        res["killed"] = victim
        writes, stop_ev = Writes(), threading.Event()
        load_counts: dict[str, int] = {}
        threads = [threading.Thread(target=_writer, args=(client, run, stop_ev, writes), daemon=True),
                   threading.Thread(target=_load, args=(client, run, stop_ev, load_counts), daemon=True)]
        for t in threads:
            t.start()
        deadline = time.time() + 20
        while time.time() < deadline and len(writes.acked) < 10:
            time.sleep(0.1)
        if len(writes.acked) < 10:
            raise DrillError(f"writes through the router do not succeed before the fault: {writes.attempts[-3:]}")
        log(f"mariadb-node-death: killing {victim} (the router's writer)")
        fault = time.time()
        alerts.mark_fault()
        stop(victim)
        deadline = fault + RECOVERY_TIMEOUT
        while time.time() < deadline and writes.recovery(fault) in (None, 0.0):
            time.sleep(0.2)
        time.sleep(2)  # writes go on against the surviving node
        stop_ev.set()
        for t in threads:
            t.join(timeout=15)
        res["seconds"] = writes.recovery(fault)
        res["new_writer"] = writer_node(client)
        res["errors_seen"] = sorted({a[2].split(":")[0] for a in writes.attempts if not a[1]})[:5]
        res["load"] = load_counts
        alerts.hold_until_paged()  # a dead VM stays dead until someone is paged
        log(f"mariadb-node-death: starting {victim} again")
        if host_pid(victim) is None:
            start(find_host(victim))
        alerts.mark_recovered()
        lost = sorted(writes.acked - present_seqs(client, run))
        res.update({"acked": len(writes.acked), "acked_lost": len(lost), "lost_ids": lost[:20]})
        res["rejoin_seconds"] = wait_synced(lab, find_host(victim))
        synced = res["rejoin_seconds"] is not None
        res["target_seconds"] = TARGET_SECONDS
        res["passed"] = bool(res["seconds"] is not None and res["seconds"] <= TARGET_SECONDS
                             and res["acked_lost"] == 0 and synced and res["new_writer"] not in (None, victim))
    finally:
        try:
            client.query(f"DELETE FROM {TABLE} WHERE run IN (%s, %s)", (run, f"{run}-load"))
        except Exception:  # noqa: BLE001 - the lab may be mid-recovery; rows of a run are harmless
            pass
        client.close()
    return res


RESTORE_ROWS = 500


def _fingerprint_sql(table: str) -> str:
    return (f"SELECT COUNT(*), COALESCE(BIT_XOR(CRC32(CONCAT_WS(',', id, run, seq))), 0) FROM {table} "
            "WHERE run = '{run}'")


@drill("mariadb-restore")
def restore(lab: Lab) -> dict[str, Any]:
    """Rows through the router, a backup (the designated node's chain: an incremental, or a full one
    when it has none), then `platform-mariadb-restore` into a scratch directory on that node and a
    scratch mariadbd on it (socket only): the drill's rows must be identical (count and checksum)."""
    from components.mariadb import names as n

    client = Client(lab)
    run = f"restore-{uuid.uuid4().hex[:8]}"
    res: dict[str, Any] = {"run_id": run}
    data = n.data_hosts(lab.settings)
    scratch = f"/var/tmp/platform-restore-{run}"
    sock = f"{scratch}/scratch.sock"  # inside the directory the scratch server (user mysql) owns
    unit = f"platform-mariadb-restore-{run}"
    node = None
    try:
        ensure_table(client)
        conn = client.connect(timeout=10)
        try:
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {TABLE} (run, seq) VALUES (%s, %s)",
                                [(run, i) for i in range(RESTORE_ROWS)])
        finally:
            conn.close()
        want = client.query(_fingerprint_sql(TABLE).replace("{run}", run))[0]
        res["rows"] = int(want[0])
        t0 = time.time()
        outs = {}
        for h in data:  # every node's timer unit; only the designated one acts
            p = lab.sudo(h, "systemctl start platform-mariadb-backup-incr.service && "
                            "journalctl -u platform-mariadb-backup-incr.service -n 5 --no-pager -o cat", timeout=900)
            outs[h.name] = p.stdout.strip().splitlines()[-1:] if p.returncode == 0 else [f"exit {p.returncode}"]
            if any("uploaded s3://" in ln for ln in p.stdout.splitlines()[-5:]):
                node = h
        res["backup_seconds"] = round(time.time() - t0, 1)
        res["backup"] = outs
        if node is None:
            raise DrillError(f"no node reported an uploaded backup: {outs}")
        res["backup_node"] = node.name
        t1 = time.time()
        p = lab.sudo(node, f"platform-mariadb-restore {scratch}", timeout=900)
        if p.returncode != 0:
            raise DrillError(f"platform-mariadb-restore failed: {p.stderr.strip()[-300:]}")
        # A transient unit (systemd-run), detached from this SSH session, as the mysql user.
        start = (f"chown -R mysql:mysql {scratch} && "
                 f"systemd-run --quiet --unit={unit} --uid=mysql --gid=mysql /usr/sbin/mariadbd --no-defaults "
                 f"--datadir={scratch} --socket={sock} --skip-networking --innodb-buffer-pool-size=64M "
                 f"--log-error={scratch}/scratch.err && "
                 f"for i in $(seq 1 120); do [ -S {sock} ] && mariadb -S {sock} -e 'SELECT 1' "
                 ">/dev/null 2>&1 && exit 0; sleep 0.5; done; tail -n 5 "
                 f"{scratch}/scratch.err >&2; exit 1")
        p = lab.sudo(node, start, timeout=120)
        if p.returncode != 0:
            raise DrillError(f"the scratch server did not start on the restored data: {p.stderr.strip()[-300:]}")
        q = _fingerprint_sql(f"{n.DATABASE}.{TABLE}").replace("{run}", run)
        p = lab.sudo(node, f"mariadb -S {sock} -N -B -e \"{q}\"", timeout=60)
        got = p.stdout.split()
        res["seconds"] = round(time.time() - t1, 1)
        res["restored"] = got
        res["identical"] = len(got) == 2 and [int(got[0]), int(got[1])] == [int(want[0]), int(want[1])]
        res["passed"] = bool(res["identical"])
    finally:
        if node is not None:
            lab.sudo(node, f"systemctl stop {unit} 2>/dev/null; rm -rf -- {scratch}", timeout=90)
        try:
            client.query(f"DELETE FROM {TABLE} WHERE run = %s", (run,))
        except Exception:  # noqa: BLE001
            pass
        client.close()
    return res


PROBE_INTERVAL = 0.25
PARTITION_HOLD_S = 45.0  # how long the node stays cut off (longer than Galera's eviction)
REFUSE_TARGET_S = 20.0  # the cut-off node refuses writes by then (Galera suspects a silent peer after 5 s)


def _probe(lab: Lab, client: Client, host: Any, run: str, seconds: float) -> subprocess.Popen[str]:
    """Writes straight to `host`'s MariaDB from inside its network namespace (reachable while cut)."""
    import json
    import sys

    from scripts.lablib.api import netns

    cfg = {"host": host.private_ip, "port": 3306, "user": client.cred["user"], "password": client.cred["password"],
           "database": client.cred["database"], "ca": client._ca.name, "table": TABLE, "run": run,
           "interval": PROBE_INTERVAL, "seconds": seconds}
    root = Path(__file__).resolve().parents[2]
    p = subprocess.Popen(["ip", "netns", "exec", netns(host.name), sys.executable, "-m",
                          "scripts.drills.mariadb_probe"], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    assert p.stdin is not None
    p.stdin.write(json.dumps(cfg) + "\n")
    p.stdin.close()
    return p


# The cut-off node's exporters are unreachable from the monitoring VM too: HostDown is what pages.
@drill("mariadb-partition", Expect("HostDown", critical=True, await_resolution=True))
def partition(lab: Lab) -> dict[str, Any]:
    """Cut the router's writer node off the network (its veth on the bridge) while a client writes
    through the router and a probe writes straight to the cut-off node from inside its namespace:
    the cut-off node must refuse writes (non-primary component), the router must move to the other
    node, and after the link is back every write either node acknowledged is in the cluster (no
    split brain) and the node is Synced again."""
    import json

    from components.mariadb import names as n
    from scripts.lablib.api import veth
    from scripts.lablib.inventory import find_host

    if not n.galera(lab.settings):
        raise DrillError("needs Galera (two or more database VMs)")
    client = Client(lab)
    run = f"part-{uuid.uuid4().hex[:8]}"
    res: dict[str, Any] = {"run_id": run}
    link = None
    cut = False
    try:
        ensure_table(client)
        victim = writer_node(client)
        if victim not in {h.name for h in n.data_hosts(lab.settings)}:
            raise DrillError(f"the router's writer is {victim!r}, not a database VM")
        host = find_host(victim)
        res["cut_off"] = victim
        link = veth(victim)
        writes, stop_ev = Writes(), threading.Event()
        wt = threading.Thread(target=_writer, args=(client, run, stop_ev, writes), daemon=True)
        wt.start()
        # Long enough for the longest cut (held until paged); stopped 10 s after the link is back.
        probe = _probe(lab, client, lab.host(victim), f"{run}-cut", PARTITION_HOLD_S + alerts.PAGE_WAIT_S + 60)
        time.sleep(3)
        if len(writes.acked) < 10:
            raise DrillError(f"writes through the router do not succeed before the cut: {writes.attempts[-3:]}")
        log(f"mariadb-partition: ip link set {link} down ({victim})")
        fault = time.time()
        alerts.mark_fault()
        cp = subprocess.run(["ip", "link", "set", link, "down"], capture_output=True, text=True, timeout=10)
        if cp.returncode != 0:
            raise DrillError(f"ip link set {link} down: {cp.stderr.strip()}")
        cut = True
        time.sleep(PARTITION_HOLD_S)
        # A VM cut off stays cut off until someone is paged (HostDown fired 36 s after the cut in one
        # lab run: a fixed 45 s cut healed it before Alertmanager's notification went out).
        alerts.hold_until_paged()
        res["seconds"] = writes.recovery(fault)
        subprocess.run(["ip", "link", "set", link, "up"], capture_output=True, text=True, timeout=10)
        cut = False
        alerts.mark_recovered()
        back = time.time()
        log(f"mariadb-partition: ip link set {link} up")
        res["rejoin_seconds"] = wait_synced(lab, host)  # from the link coming back
        synced = res["rejoin_seconds"] is not None
        time.sleep(2)
        stop_ev.set()
        wt.join(timeout=15)
        assert probe.stdout is not None
        time.sleep(max(0.0, back + 10 - time.time()))
        probe.terminate()  # it flushes each line: what it wrote until now is in the pipe
        out = probe.stdout.read()
        probe.wait(timeout=30)
        events = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
        during = [e for e in events if fault <= e["t"] < back]
        last_ok = max((e["t"] for e in during if e["ok"]), default=fault)
        res["probe_acked_during_cut"] = sum(1 for e in during if e["ok"])
        res["refused_after_seconds"] = round(last_ok - fault, 2)
        res["probe_errors"] = sorted({e.get("error", "")[:60] for e in during if not e["ok"]})[:3]
        present = present_seqs(client, run)
        present_probe = present_seqs(client, f"{run}-cut")
        probe_acked = {e["seq"] for e in events if e["ok"]}
        res["acked"] = len(writes.acked)
        res["acked_lost"] = len(writes.acked - present)
        # A write the cut-off node acknowledged that the cluster does not have would be split brain.
        res["split_brain_writes"] = len(probe_acked - present_probe)
        res["new_writer"] = writer_node(client)
        res["passed"] = bool(res["seconds"] is not None and res["seconds"] <= TARGET_SECONDS
                             and res["acked_lost"] == 0 and res["split_brain_writes"] == 0 and synced
                             and res["refused_after_seconds"] <= REFUSE_TARGET_S)
    finally:
        if cut and link:
            subprocess.run(["ip", "link", "set", link, "up"], capture_output=True, text=True, timeout=10)
            alerts.mark_recovered()
        try:
            client.query(f"DELETE FROM {TABLE} WHERE run IN (%s, %s)", (run, f"{run}-cut"))
        except Exception:  # noqa: BLE001
            pass
        client.close()
    return res
