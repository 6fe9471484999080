"""`scripts/bench pgbouncer --stack lab`: what PgBouncer buys clients that connect per transaction.

pgbench with a new connection per transaction (`-C`, TLS + SCRAM each time, as an app role) against
PgBouncer (6432) and directly against PostgreSQL (5432) on the current leader, alternated round by
round in one run so both see the same machine load. pgbench runs on the leader itself (its own
private address: the firewall admits it, and no network hop favours either side; `--transport
socket` uses the Unix sockets instead). The password
reaches the host on stdin into a 0600 PGPASSFILE that is removed afterwards.

Prints one JSON line per round and last a summary with `ratio` = median TPS through PgBouncer /
median TPS direct (target >= 1.7); exit code 1 below the target.
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
from scripts.drills.postgres import wait_healthy  # noqa: E402

TARGET = 1.7


def pgbench_round(lab: Lab, host: str, ip: str, port: int, app: dict[str, Any], seconds: int, clients: int
                  ) -> dict[str, Any]:
    line = "*:*:*:{}:{}\n".format(*(str(v).replace("\\", "\\\\").replace(":", "\\:")
                                    for v in (app["user"], app["password"])))
    q = shlex.quote
    cmd = ("set -e; d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT; cat >\"$d/pgpass\"; chmod 600 \"$d/pgpass\"; "
           "echo 'SELECT 1;' >\"$d/select.sql\"; "
           "PGPASSFILE=\"$d/pgpass\" PGSSLMODE=require PGAPPNAME=platform-bench "
           f"pgbench -n -C -c {clients} -j {min(clients, 2)} -T {seconds} -f \"$d/select.sql\" "
           f"-h {q(ip)} -p {port} -U {q(app['user'])} {q(app['database'])} 2>&1")
    p = lab.run(host, cmd, stdin=line, timeout=seconds + 60)
    m = re.search(r"tps = ([0-9.]+)", p.stdout)
    n = re.search(r"number of transactions actually processed: (\d+)", p.stdout)
    return {"tps": float(m.group(1)) if m else None, "transactions": int(n.group(1)) if n else None,
            "exit": p.returncode, "error": None if m else (p.stdout.strip().splitlines() or [""])[-1][:200]}


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
    for i in range(1, rounds + 1):
        order = (("pgbouncer", 6432), ("direct", 5432)) if i % 2 else (("direct", 5432), ("pgbouncer", 6432))
        for target, port in order:
            r = pgbench_round(lab, leader, hosts[target], port, app, seconds, clients)
            print(json.dumps({"round": i, "target": target, "port": port, **r}), flush=True)
            if r["tps"] is not None:
                res[target].append(r["tps"])
    pgb, direct = median(res["pgbouncer"]), median(res["direct"])
    ratio = round(pgb / direct, 2) if pgb and direct else None
    return {"bench": "pgbouncer", "host": leader, "transport": transport, "database": name, "rounds": rounds,
            "seconds_per_round": seconds,
            "clients": clients, "pgbouncer_tps": res["pgbouncer"], "direct_tps": res["direct"],
            "pgbouncer_median_tps": pgb, "direct_median_tps": direct, "ratio": ratio, "target": TARGET,
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
