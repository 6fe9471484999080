"""`scripts/bench pgbouncer --stack lab`: what PgBouncer buys clients that connect per transaction.

pgbench with a new connection per transaction (`-C`, TLS + SCRAM each time, as an app role) against
PgBouncer (6432) and directly against PostgreSQL (5432) on the current leader, alternated round by
round in one run so both see the same machine load. pgbench runs on the leader itself (its own
private address: the firewall admits it, and no network hop favours either side; `--transport
socket` uses the Unix sockets instead). The password
reaches the host on stdin into a 0600 PGPASSFILE that is removed afterwards.

Prints one JSON line per round and last a summary with `ratio` = median TPS through PgBouncer /
median TPS direct (target >= 1.7); exit code 1 below the target.

Each round also reports where the CPU went, per transaction: `client_cpu_ms` (pgbench and libpq:
TLS and SCRAM's PBKDF2 are client work) and `server_cpu_ms` (every postgres process plus
pgbouncer, read from /proc on the host, reaped backends included through the postmaster's
child times). The summary's `server_cpu_ratio` = server CPU per transaction direct / through
PgBouncer: what PgBouncer saves the database VM when the clients run elsewhere (as apps do, on K3s),
which `ratio` understates on a lab whose client shares the servers' cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.drills.common import Lab, log, median  # noqa: E402
from scripts.drills.pg_cluster import wait_healthy  # noqa: E402

TARGET = 1.7


# CPU seconds of the database servers on this host: every postgres process and pgbouncer, plus what
# the postmaster has reaped (a `-C` backend lives a few milliseconds, between any two samples).
SERVER_CPU = r"""
import os
hz = os.sysconf("SC_CLK_TCK"); total = {"postgres": 0, "pgbouncer": 0}; procs = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        raw = open("/proc/%s/stat" % pid).read()
    except OSError:
        continue
    f = raw[raw.rindex(")") + 2:].split()
    procs[pid] = (raw[raw.index("(") + 1:raw.rindex(")")], f[1], int(f[11]) + int(f[12]), int(f[13]) + int(f[14]))
for pid, (comm, ppid, own, reaped) in procs.items():
    if comm in total:
        parent = procs.get(ppid, ("",))[0]
        total[comm] += own + (reaped if parent != comm else 0)
print("SERVERCPU %.3f %.3f" % (total["postgres"] / hz, total["pgbouncer"] / hz))
"""


def _seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+)m([0-9.]+)s", text)
    return int(m.group(1)) * 60 + float(m.group(2)) if m else 0.0


def pgbench_round(lab: Lab, host: str, ip: str, port: int, app: dict[str, Any], seconds: int, clients: int
                  ) -> dict[str, Any]:
    line = "*:*:*:{}:{}\n".format(*(str(v).replace("\\", "\\\\").replace(":", "\\:")
                                    for v in (app["user"], app["password"])))
    q = shlex.quote
    # `times` in the subshell reports pgbench's CPU alone (user and system of its children).
    cmd = ("set -e; d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT; cat >\"$d/pgpass\"; chmod 600 \"$d/pgpass\"; "
           "echo 'SELECT 1;' >\"$d/select.sql\"; "
           f"python3 -c {q(SERVER_CPU)}; "
           "( PGPASSFILE=\"$d/pgpass\" PGSSLMODE=require PGAPPNAME=platform-bench "
           f"pgbench -n -C -c {clients} -j {min(clients, 2)} -T {seconds} -f \"$d/select.sql\" "
           f"-h {q(ip)} -p {port} -U {q(app['user'])} {q(app['database'])} 2>&1 || true; "
           "times >\"$d/times\"; echo CLIENTCPU $(tail -n 1 \"$d/times\") ); "
           f"python3 -c {q(SERVER_CPU)}")
    p = lab.run(host, cmd, stdin=line, timeout=seconds + 60)
    m = re.search(r"tps = ([0-9.]+)", p.stdout)
    n = re.search(r"number of transactions actually processed: (\d+)", p.stdout)
    out: dict[str, Any] = {
        "tps": float(m.group(1)) if m else None, "transactions": int(n.group(1)) if n else None,
        "exit": p.returncode, "error": None if m else (p.stdout.strip().splitlines() or [""])[-1][:200]}
    server = [tuple(map(float, x)) for x in re.findall(r"^SERVERCPU ([0-9.]+) ([0-9.]+)$", p.stdout, re.M)]
    client = re.search(r"^CLIENTCPU (\S+) (\S+)$", p.stdout, re.M)
    if out["transactions"] and len(server) == 2 and client:
        per_txn = 1000.0 / out["transactions"]
        out["client_cpu_ms"] = round((_seconds(client.group(1)) + _seconds(client.group(2))) * per_txn, 2)
        out["postgres_cpu_ms"] = round((server[1][0] - server[0][0]) * per_txn, 2)
        out["pgbouncer_cpu_ms"] = round((server[1][1] - server[0][1]) * per_txn, 2)
        out["server_cpu_ms"] = round(out["postgres_cpu_ms"] + out["pgbouncer_cpu_ms"], 2)
    return out


def bench_pgbouncer(lab: Lab, rounds: int, seconds: int, clients: int, transport: str = "tls") -> dict[str, Any]:
    st = wait_healthy(lab)
    leader = st["leader"]
    ip = lab.host(leader).private_ip
    # tls: TCP to the private address, TLS + SCRAM (what apps do); socket: Unix sockets, SCRAM only.
    hosts = {"pgbouncer": ip, "direct": ip} if transport == "tls" else \
        {"pgbouncer": "/var/run/pgbouncer", "direct": "/var/run/postgresql"}
    apps: dict[str, Any] = lab.outputs["postgresApps"]
    name = next((d for d in lab.settings.postgres.databases if d in apps), sorted(apps)[0])
    app = apps[name]
    res: dict[str, list[float]] = {"pgbouncer": [], "direct": []}
    cpu: dict[str, dict[str, list[float]]] = {t: {"client": [], "server": []} for t in res}
    for i in range(1, rounds + 1):
        order = (("pgbouncer", 6432), ("direct", 5432)) if i % 2 else (("direct", 5432), ("pgbouncer", 6432))
        for target, port in order:
            r = pgbench_round(lab, leader, hosts[target], port, app, seconds, clients)
            print(json.dumps({"round": i, "target": target, "port": port, **r}), flush=True)
            if r["tps"] is not None:
                res[target].append(r["tps"])
            if "server_cpu_ms" in r:
                cpu[target]["client"].append(r["client_cpu_ms"])
                cpu[target]["server"].append(r["server_cpu_ms"])
    pgb, direct = median(res["pgbouncer"]), median(res["direct"])
    ratio = round(pgb / direct, 2) if pgb and direct else None
    cpu_ms = {t: {k: median(v) for k, v in kinds.items()} for t, kinds in cpu.items()}
    srv_pgb, srv_direct = cpu_ms["pgbouncer"]["server"], cpu_ms["direct"]["server"]
    return {"bench": "pgbouncer", "host": leader, "transport": transport, "database": name, "rounds": rounds,
            "seconds_per_round": seconds,
            "clients": clients, "pgbouncer_tps": res["pgbouncer"], "direct_tps": res["direct"],
            "pgbouncer_median_tps": pgb, "direct_median_tps": direct,
            "cpu_ms_per_transaction": cpu_ms,
            "server_cpu_ratio": round(srv_direct / srv_pgb, 2) if srv_pgb and srv_direct else None,
            "ratio": ratio, "target": TARGET,
            "passed": ratio is not None and ratio >= TARGET}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/bench", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("name", choices=["pgbouncer"])
    ap.add_argument("--stack", required=True)
    ap.add_argument("--rounds", type=int, default=3, help="alternations of PgBouncer and direct (default 3)")
    ap.add_argument("--seconds", type=int, default=10, help="seconds per pgbench run (default 10)")
    ap.add_argument("--clients", type=int, default=4, help="pgbench clients (default 4)")
    ap.add_argument("--transport", choices=["tls", "socket"], default="tls",
                    help="tls: TCP + TLS to the private address (default); socket: Unix sockets")
    args = ap.parse_args(argv)
    lab = Lab(args.stack)
    log(f"bench pgbouncer: {args.rounds} rounds x 2 x {args.seconds} s")
    summary = bench_pgbouncer(lab, args.rounds, args.seconds, args.clients, args.transport)
    print(json.dumps(summary), flush=True)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
