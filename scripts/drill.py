"""`scripts/drill NAME --stack lab [--runs N]`: run a failover / restore drill N times.

Prints one JSON object per run, then one summary object as the last line (drill, runs,
median_seconds, max_seconds, acked_lost_total, passed). Exit code 1 when passed is false.
Progress goes to stderr. Drills inject real faults (kill hosts, cut links), so only the lab is
supported; every run puts the lab back before it returns.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.backups import DRILLS_PREFIX, RESTORE_DRILLS, drill_record  # noqa: E402
from scripts.drills import DRILLS, alerts  # noqa: E402
from scripts.drills.common import EXPECTED_ALERTS, DrillError, Expect, Lab, dumps, log, summarize  # noqa: E402


def record_restore_drill(lab: Lab, name: str, summary: dict[str, Any]) -> None:
    """The restore drill's result, for `scripts/backups` (drills/<store>.json in the backups bucket)."""
    from scripts.lablib.s3 import client

    record = drill_record(name, summary)
    key = f"{DRILLS_PREFIX}{record['store']}.json"
    client().put_object(Bucket=lab.settings.s3.buckets.backups, Key=key, Body=json.dumps(record).encode())
    log(f"{name}: recorded in s3://{lab.settings.s3.buckets.backups}/{key}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/drill", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("name", choices=sorted(DRILLS))
    ap.add_argument("--stack", required=True)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--pause", type=float, default=5.0, help="seconds between runs (default 5)")
    ap.add_argument("--no-alerts", action="store_true",
                    help="do not watch for the drill's alert (scripts/drills/alerts.py); for debugging a drill")
    ap.add_argument("--minutes", type=float, default=10.0, help="monitoring-quiet: minutes to observe (default 10)")
    args = ap.parse_args(argv)
    if args.stack != "lab":
        ap.error("drills inject real faults: only --stack lab is supported")
    if os.geteuid() != 0:
        ap.error("drills on the lab need root (lab hosts, network namespaces)")
    lab = Lab(args.stack)
    lab.options["minutes"] = args.minutes
    fn = DRILLS[args.name]
    results: list[dict[str, Any]] = []
    for i in range(1, max(1, args.runs) + 1):
        if i > 1:
            time.sleep(args.pause)
        log(f"{args.name}: run {i}/{args.runs}")
        t0 = time.monotonic()
        watch = None if args.no_alerts else alerts.begin(lab, EXPECTED_ALERTS.get(args.name, Expect(None)))
        try:
            r = fn(lab)
        except DrillError as e:
            r = {"seconds": None, "acked_lost": 0, "passed": False, "error": str(e)}
        except Exception as e:  # noqa: BLE001 - a broken run is a failed run, with its reason
            traceback.print_exc(file=sys.stderr)
            r = {"seconds": None, "acked_lost": 0, "passed": False, "error": f"{type(e).__name__}: {e}"}
        if watch is not None:
            r.update(alerts.evaluate(watch))
            r["passed"] = bool(r.get("passed")) and bool(r.get("alert_passed"))
        r = {"drill": args.name, "run": i, **r, "wall_seconds": round(time.monotonic() - t0, 1)}
        results.append(r)
        print(dumps(r), flush=True)
    summary = summarize(args.name, results)
    print(dumps(summary), flush=True)
    if args.name in RESTORE_DRILLS:
        record_restore_drill(lab, args.name, summary)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
