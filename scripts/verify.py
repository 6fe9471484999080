"""`scripts/verify --stack NAME`: run the verification checklist against a deployed stack.

For the lab, hosts are reached with the lab key and outputs come from the lab state. For a real
stack, SSH uses your agent or `--identity`, and `--outputs` takes `pulumi stack output --json
--show-secrets` (checks that need credentials SKIP without it). Exit code 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components import catalog, checks  # noqa: E402
from components.checks import FAIL, PASS, SKIP, Context  # noqa: E402
from components.settings import Host, Settings, parse_settings  # noqa: E402
from scripts.program import PLACEHOLDER_SECRETS, stack_config, unwrap  # noqa: E402


def load_checks(settings: Settings) -> None:
    """Import every component's checks module (its contract names it); each registers its lines."""
    import importlib

    for contract in catalog.contracts(settings):
        if contract.checks:
            importlib.import_module(contract.checks)


def make_context(stack: str, identity: str | None, outputs_file: str | None) -> Context:
    cfg = stack_config(stack)
    outputs: dict[str, Any] = {}
    if stack == "lab":
        from scripts.lablib.labconfig import apply_overlay, saved_outputs, saved_overlay
        from scripts.lablib.s3 import ca_cert_path

        # What the last `scripts/lab up` applied: Pulumi.lab.yaml plus that run's `--set` keys.
        cfg = apply_overlay(cfg, saved_overlay())
        cfg["s3"] = dict(cfg.get("s3") or {}, caCertificate=Path(ca_cert_path()).read_text())
        outputs = unwrap(saved_outputs())
    if outputs_file:
        outputs = json.loads(Path(outputs_file).read_text())
    settings = parse_settings({**cfg, **PLACEHOLDER_SECRETS}, stack)

    def ssh_argv(host: Host) -> list[str]:
        if stack == "lab":
            from scripts.lablib.ssh import ssh_argv as lab_ssh

            return lab_ssh(host.name)
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-p", str(settings.ssh.port)]
        if identity:
            argv += ["-i", identity, "-o", "IdentitiesOnly=yes"]
        return [*argv, f"{settings.ssh.user}@{host.public_ip}"]

    return Context(settings=settings, outputs=outputs, ssh_argv=ssh_argv)


def verify(stack: str, identity: str | None = None, outputs_file: str | None = None,
           groups: list[str] | None = None) -> dict[str, Any]:
    ctx = make_context(stack, identity, outputs_file)
    load_checks(ctx.settings)
    results = checks.run_checks(ctx, groups)
    counts = {s: sum(1 for _, r in results if r.status == s) for s in (PASS, FAIL, SKIP)}
    return {"verify": stack, "passed": counts[PASS], "failed": counts[FAIL], "skipped": counts[SKIP]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/verify", description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True)
    ap.add_argument("--identity", help="SSH private key for a real stack (default: your agent)")
    ap.add_argument("--outputs", help="JSON of `pulumi stack output --json --show-secrets`")
    ap.add_argument("--group", action="append", help="only these check groups (repeatable)")
    args = ap.parse_args(argv)
    summary = verify(args.stack, args.identity, args.outputs, args.group)
    print(json.dumps(summary))
    return 1 if summary["failed"] or not summary["passed"] else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
