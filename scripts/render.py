"""Render a stack offline: every host file and script, and the resource graph, as plain text.

`scripts/render --stack prod-ha --out DIR` runs the program under mocks (no SSH, no cloud, no
Pulumi CLI) and writes:

    DIR/resources.txt                         type, name, parent and dependencies of every resource
    DIR/outputs.json                          stack outputs, secrets replaced by "[secret]"
    DIR/hosts/<host>/<step>/step.sh           the script the step runs
    DIR/hosts/<host>/<step>/files/<name>      every rendered file it installs
    DIR/hosts/<host>/<step>/secrets.txt       the names (never the values) of the secrets it gets
    DIR/kubernetes/<kind>-<namespace>-<name>.yaml   every Kubernetes object the program registers
    DIR/kubernetes/helm/<release>.yaml        each Helm release: chart, version, repository, values
    DIR/storage/<resource>.yaml               each bucket, its versioning, lifecycle rules, public access block

Deterministic (sorted, no timestamps), so two renders of one commit are byte-identical and a pull
request can carry the exact change to every host as a plain diff. Secret values never reach DIR:
secrets are placeholders here, and every file is checked for any secret value seen in the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.remote import read_bundle  # noqa: E402
from scripts.program import (  # noqa: E402
    PLACEHOLDER_SECRETS,
    SECRET_SIG,
    SECRET_VALUE,
    Registered,
    Run,
    is_secret,
    run_program,
    stack_config,
    unwrap,
)

MASK = "[secret]"


def secret_values(run: Run) -> set[str]:
    """Every secret value the run saw: config secrets, generated passwords and keys, step secrets."""
    found = set(PLACEHOLDER_SECRETS.values())
    for r in run.records:
        if r.type == "random:index/randomPassword:RandomPassword":
            found.add(unwrap(r.outputs.get("result", "")))
        if r.type == "tls:index/privateKey:PrivateKey":
            found.add(unwrap(r.outputs.get("privateKeyPem", "")))
        if r.type == "command:remote:Command":
            bundle = read_bundle(unwrap(r.inputs["stdin"]))
            found.update(v for k, v in bundle.items() if k.startswith("secrets/"))
    return {s for s in found if s}


def mask(value: Any) -> Any:
    if is_secret(value):
        return MASK
    if isinstance(value, dict):
        return {k: mask(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def short(urn: str) -> str:
    """urn:pulumi:stack::platform::a$b::name -> b::name (type and name of the resource)."""
    if not urn:
        return "-"
    _, _, rest = urn.partition("::platform::")
    typ, _, name = rest.rpartition("::")
    return f"{typ.split('$')[-1]}::{name}"


def resource_lines(records: list[Registered]) -> str:
    lines = []
    for r in sorted(records, key=lambda r: r.urn):
        deps = ", ".join(short(d) for d in r.dependencies) or "-"
        lines.append(f"{r.type} {r.name}\n  parent: {short(r.parent)}\n  depends on: {deps}\n")
    return "".join(lines)


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
CONFIG_GROUP = "kubernetes:yaml/v2:ConfigGroup"


def kubernetes_files(records: list[Registered]) -> dict[str, str]:
    """Relative path -> YAML of every Kubernetes object (a ConfigGroup's objects, each custom
    resource) and of each Helm release's chart, version and values; secrets as "[secret]"."""
    files: dict[str, str] = {}
    for r in records:
        if r.type == HELM_RELEASE:
            keys = ("chart", "version", "namespace", "repositoryOpts", "values")
            files[f"helm/{r.name}.yaml"] = yaml.safe_dump(mask({k: r.inputs.get(k) for k in keys}), sort_keys=True)
            continue
        if r.type == CONFIG_GROUP:
            objs = list(r.inputs.get("objs") or [])
        elif r.type.startswith("kubernetes:") and "apiVersion" in r.inputs:
            objs = [{k: r.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec", "type", "data", "stringData")
                     if k in r.inputs}]
        else:
            continue
        for obj in objs:
            if is_secret(obj.get("stringData")):
                # The keys are not secret (a review sees which changed); every value stays masked.
                hidden = {SECRET_SIG: SECRET_VALUE, "value": ""}
                obj = {**obj, "stringData": {k: hidden for k in unwrap(obj["stringData"])}}
            meta = obj.get("metadata") or {}
            name = f"{obj['kind'].lower()}-{meta.get('namespace', 'cluster')}-{meta['name']}.yaml"
            files[name] = yaml.safe_dump(mask(obj), sort_keys=True)
    return files


def render(stack: str, out: Path) -> int:
    run = run_program(stack, stack_config(stack))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    secrets = secret_values(run)

    by_ip = {h["publicIp"]: name for name, h in unwrap(run.outputs["hosts"]).items()}
    written: list[Path] = []

    def write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)

    write(out / "resources.txt", resource_lines(run.records))
    write(out / "outputs.json", json.dumps(mask(run.outputs), indent=2, sort_keys=True) + "\n")
    for r in run.records:
        if r.type != "command:remote:Command":
            continue
        host = by_ip[unwrap(r.inputs["connection"])["host"]]
        bundle = read_bundle(unwrap(r.inputs["stdin"]))
        step_dir = out / "hosts" / host / r.name
        names = []
        for member, text in sorted(bundle.items()):
            if member.startswith("secrets/"):
                names.append(member.removeprefix("secrets/"))
            elif member != "lib.sh":  # the same in every step: components/step_lib.sh
                write(step_dir / member, text)
        write(step_dir / "secrets.txt", "".join(f"{n}\n" for n in names))

    for r in run.records:
        if r.type.startswith("aws:s3/"):  # the buckets and their policies (components/storage_rules.py)
            write(out / "storage" / f"{r.name}.yaml", yaml.safe_dump(mask(r.inputs), sort_keys=True))
    for rel, text in sorted(kubernetes_files(run.records).items()):
        write(out / "kubernetes" / rel, text)

    leaks = [str(p.relative_to(out)) for p in written if any(s in p.read_text() for s in secrets)]
    if leaks:
        for p in written:
            text = p.read_text()
            for s in secrets:
                text = text.replace(s, MASK)
            p.write_text(text)
        print(f"render: secret values found and masked in {', '.join(leaks)}: this is a bug", file=sys.stderr)
        return 1
    print(f"render: {stack}: {len(run.records)} resources, {len(written)} files -> {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/render", description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    ap.add_argument("--out", required=True, type=Path, help="output directory (replaced)")
    args = ap.parse_args(argv)
    from components.settings.reader import SettingsError

    try:
        return render(args.stack, args.out)
    except SettingsError as e:
        print(f"render: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The SDK leaves event loops behind whose finalisers print noise at interpreter exit.
    os._exit(code)
