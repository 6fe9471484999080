"""`scripts/lab`: the local lab of "VMs" (systemd-nspawn) for integration tests.

prepare            host packages, SSH key, lab CA, base image, local apt repository (no hosts)
hosts-up [--fresh] boot every host of Pulumi.lab.yaml (running ones are kept unless --fresh)
s3-up              S3 (moto) behind TLS at https://198.18.0.1:9443
up [--fresh] [--set KEY=VALUE]... [--replace NAME]... [--rerun-all]
                   prepare + hosts-up + s3-up, then apply the lab stack as `pulumi up` would (the
                   plan first, then only what changed) and verify it; last line of output: one JSON
                   object (steps, changed, failed, same, created, updated, replaced, deleted, ran,
                   verify_failed, seconds)
preview [--set KEY=VALUE]... [--replace NAME]...
                   what `pulumi preview` would show against the lab state: per resource create |
                   update | replace | delete | same, the changed files of each step; last line JSON
                   (create, update, replace, delete, same, plan, files)

--set KEY=VALUE    this run's config: Pulumi.lab.yaml with the dotted KEY (in the platform: namespace)
                   set to VALUE (JSON, or a bare word as a string), like `pulumi config set --path`;
                   not kept for the next run (a later `up` without it reverts the change)
--replace NAME     replace this resource (step name or URN) even if its inputs are equal, like
                   `pulumi up --replace URN` (e.g. after repairing a host by hand)
--rerun-all        run every step even when nothing changed (each must then report unchanged)
down [--all]       remove this checkout's lab (--all: any lab-named state on the machine)
status [--json]    hosts: running, ssh, address, init PID, memory
ssh HOST [CMD...]  ssh as deploy with the lab key
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import aptrepo, hosts, image, inventory, prereqs, receiver, s3
from .util import LabError, lab_dir, log, require_root


@contextlib.contextmanager
def lab_lock(timeout: float = 900) -> Iterator[None]:
    """One mutating lab command at a time per checkout (bounded wait)."""
    lab_dir().mkdir(parents=True, exist_ok=True)
    with open(lab_dir() / "lock", "w") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LabError(f"another `scripts/lab` holds {lab_dir() / 'lock'}") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Steps:
    """Runs named steps, printing progress with elapsed seconds; records outcome and duration."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.t0 = time.monotonic()

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        t = time.monotonic()
        log(name, "start")
        try:
            result = fn()
        except Exception as e:
            self.records.append({"name": name, "ok": False, "seconds": round(time.monotonic() - t, 1)})
            log(name, f"FAILED after {time.monotonic() - t:.1f}s: {e}")
            if not isinstance(e, LabError):
                traceback.print_exc()
            raise
        self.records.append({"name": name, "ok": True, "seconds": round(time.monotonic() - t, 1)})
        log(name, f"done in {time.monotonic() - t:.1f}s")
        return result


def do_prepare(steps: Steps) -> bool:
    changed = steps.run("prereqs", prereqs.ensure_prereqs)
    changed = steps.run("keys", image.ensure_key) or changed
    changed = steps.run("ca", s3.ensure_ca) or changed
    changed = steps.run("image", image.ensure_base) or changed
    changed = steps.run("repo", aptrepo.ensure_repo) or changed
    return bool(changed)


def _any_host_mounted() -> bool:
    return any(hosts.root_dir(h.name).is_mount() for h in inventory.hosts())


def cmd_up(args: argparse.Namespace) -> int:
    steps = Steps()
    summary: dict[str, Any] = {"steps": 0, "changed": 0, "failed": 0, "verify_failed": 0, "seconds": 0.0}
    skipped: list[str] = []
    error = ""
    try:
        overlay = _overlay(args)
        with lab_lock():
            if not args.fresh and _any_host_mounted() and not image.base_is_current():
                log("up", "the base image changes: taking the running hosts down first")
                hosts.hosts_down()
            do_prepare(steps)
            steps.run("hosts-up", lambda: hosts.hosts_up(fresh=args.fresh, timeout=args.timeout))
            steps.run("s3-up", s3.s3_up)
            steps.run("receiver-up", receiver.receiver_up)
        if args.no_apply:
            skipped.append("apply (--no-apply)")
        elif importlib.util.find_spec("scripts.lablib.apply") is None:
            skipped.append("apply (scripts/lablib/apply.py not present)")
            log("apply", "SKIPPED: scripts/lablib/apply.py not present")
        else:
            from scripts.lablib import apply as lab_apply  # type: ignore[attr-defined,unused-ignore]

            report = steps.run("apply", lambda: lab_apply.apply_stack(
                "lab", overlay=overlay, rerun_all=args.rerun_all, replace=args.replace))
            summary["steps"] = _count(report, "steps")
            summary["changed"] = _count(report, "changed")
            summary["failed"] = _count(report, "failed")
            summary.update(report.counts())
            summary["ran"] = report.ran()
            summary["plan"] = report.plan.changes()
            if args.rerun_all:
                summary["rerun_all"] = True
            if overlay:
                summary["config"] = overlay
            if getattr(report, "error", None):
                error = str(report.error)
        if args.no_verify:
            skipped.append("verify (--no-verify)")
        elif summary["failed"]:
            skipped.append("verify (apply failed)")
        elif importlib.util.find_spec("scripts.verify") is None:
            skipped.append("verify (scripts/verify.py not present)")
            log("verify", "SKIPPED: scripts/verify.py not present")
        else:
            import scripts.verify as verify_mod  # type: ignore[import-not-found,unused-ignore]

            result = steps.run("verify", lambda: verify_mod.verify("lab"))
            summary["verify_failed"] = _count(result, "failed")
            summary["verify_passed"] = _count(result, "passed")
            if not summary["verify_passed"] and not summary["verify_failed"]:
                summary["verify_failed"] = 1
                error = error or "verify: no check passed"
    except Exception as e:  # reported in the JSON line; details were logged by Steps
        error = str(e).splitlines()[0] if str(e) else type(e).__name__
        summary["failed"] = max(1, int(summary["failed"]))
    summary["seconds"] = round(time.monotonic() - steps.t0, 1)
    summary["lab_steps"] = steps.records
    if skipped:
        summary["skipped"] = skipped
    if error:
        summary["error"] = error
    sys.stderr.flush()
    print(json.dumps(summary), flush=True)
    return 1 if summary["failed"] or summary["verify_failed"] else 0


def _overlay(args: argparse.Namespace) -> dict[str, Any]:
    from scripts.lablib.labconfig import parse_sets

    try:
        return parse_sets(args.set)
    except ValueError as e:
        raise LabError(str(e)) from None


def cmd_preview(args: argparse.Namespace) -> int:
    from scripts.lablib import apply as lab_apply

    overlay = _overlay(args)
    try:
        summary = lab_apply.preview_stack("lab", overlay=overlay, replace=args.replace)
    except Exception as e:  # noqa: BLE001 - a bad config or a missing lab: one line, then the JSON
        msg = str(e).strip() or type(e).__name__
        print(f"preview: {msg}", file=sys.stderr, flush=True)
        print(json.dumps({"preview": "lab", "error": msg.splitlines()[0]}), flush=True)
        return 1
    print(json.dumps(summary), flush=True)
    return 0


def _count(obj: Any, key: str) -> int:
    v = obj.get(key, 0) if isinstance(obj, dict) else getattr(obj, key, 0)
    if isinstance(v, list | tuple):
        return len(v)
    return int(v or 0)


def cmd_status(args: argparse.Namespace) -> int:
    hs = inventory.hosts()

    def probe(h: inventory.LabHost) -> dict[str, Any]:
        running = hosts.wrapper_pid(h.name) is not None
        return {
            "name": h.name,
            "role": h.role,
            "address": h.ip,
            "running": running,
            "ssh": running and hosts.ssh_ok(h, timeout=5),
            "init_pid": hosts.host_pid(h.name),
            "mem_mib": round(hosts.memory_mib(h.name), 1) if running else 0,
        }

    with ThreadPoolExecutor(max_workers=max(1, len(hs))) as ex:
        rows = list(ex.map(probe, hs))
    s3_ok = s3.healthy()
    if args.json:
        print(json.dumps({"hosts": rows, "s3": {"endpoint": s3.s3_endpoint(), "ok": s3_ok}}))
        return 0
    print(f"{'HOST':<10} {'ROLE':<11} {'ADDRESS':<14} {'RUNNING':<8} {'SSH':<4} {'INIT-PID':>8} {'MEM-MiB':>8}")
    for r in rows:
        print(
            f"{r['name']:<10} {r['role']:<11} {r['address']:<14} {'yes' if r['running'] else 'no':<8} "
            f"{'ok' if r['ssh'] else '-':<4} {r['init_pid'] or '-':>8} {r['mem_mib']:>8}"
        )
    from .sysstate import link_names

    bridge = "up" if hosts.BRIDGE in link_names() else "absent"
    print(f"s3: {s3.s3_endpoint()} {'ok' if s3_ok else 'down'}   bridge {hosts.BRIDGE}: {bridge}   lab: {lab_dir()}")
    return 0


def cmd_ssh(args: argparse.Namespace) -> int:
    from .ssh import ssh_argv

    argv = ssh_argv(args.host)
    os.execvp(argv[0], argv + list(args.command))
    return 127  # not reached


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="scripts/lab", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.epilog = __doc__.split("\n\n", 1)[1]
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare")
    p = sub.add_parser("hosts-up")
    p.add_argument("--fresh", action="store_true", help="recreate hosts that are already running")
    p.add_argument("--timeout", type=float, default=120, help="seconds to wait for ssh on all hosts")
    sub.add_parser("s3-up")
    p = sub.add_parser("up")
    p.add_argument("--fresh", action="store_true", help="recreate hosts that are already running")
    p.add_argument("--timeout", type=float, default=120, help="seconds to wait for ssh on all hosts")
    p.add_argument("--no-apply", action="store_true")
    p.add_argument("--no-verify", action="store_true")
    p.add_argument("--rerun-all", action="store_true", help="run every step, changed or not")
    for q in (p, sub.add_parser("preview")):
        q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="config for this run on top of Pulumi.lab.yaml (dotted key, JSON value)")
        q.add_argument("--replace", action="append", default=[], metavar="NAME",
                       help="replace this resource (name or URN) even if unchanged")
    p = sub.add_parser("down")
    p.add_argument("--all", action="store_true", help="also lab state of other checkouts")
    p = sub.add_parser("status")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("ssh")
    p.add_argument("host")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)

    try:
        if args.cmd == "ssh":
            return cmd_ssh(args)
        if args.cmd == "status":
            return cmd_status(args)
        require_root()
        if args.cmd == "up":
            return cmd_up(args)
        if args.cmd == "preview":
            return cmd_preview(args)
        steps = Steps()
        with lab_lock():
            if args.cmd == "prepare":
                do_prepare(steps)
            elif args.cmd == "hosts-up":
                steps.run("hosts-up", lambda: hosts.hosts_up(fresh=args.fresh, timeout=args.timeout))
            elif args.cmd == "s3-up":
                steps.run("s3-up", s3.s3_up)
            elif args.cmd == "down":
                steps.run("receiver-down", lambda: receiver.receiver_down(all_checkouts=args.all))
                steps.run("s3-down", lambda: s3.s3_down(all_checkouts=args.all))
                cleared = steps.run("hosts-down", lambda: hosts.hosts_down(all_checkouts=args.all))
                log("down", f"removed {len(cleared)} items")
        return 0
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
