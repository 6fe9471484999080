"""The engine's diff, as `pulumi preview` / `pulumi up` compute it for the lab's resources.

Pure functions over the inputs a resource registers (wire form: secrets wrapped, unknowns as
`pulumi.output.Unknown` during a preview) and what the lab state recorded for it last time
(`scripts/lablib/state.py`: secret inputs only as hashes). Nothing here touches the lab.

What decides the operation (checked against pulumi-command 1.2, pulumi-random, pulumi-tls and
pulumi-aws, see the README's lab section):

- no record: `create`;
- inputs equal to the recorded ones: `same` (nothing runs; the recorded outputs are returned);
- a changed input that the provider's schema or the registration's `replaceOnChanges` marks as
  replace-on-change: `replace` (command: `triggers`; random and tls: every input; bucket: its name);
- any other changed input: `update` (pulumi-command re-runs `create` when there is no `update`);
- a record whose resource is no longer registered: `delete`.

An unknown input (a preview whose value depends on something that is itself created or replaced)
counts as changed, as the engine shows it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi.output import Unknown

from scripts.program import is_secret

OPS = ("create", "update", "replace", "delete", "same")
SYMBOL = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " "}
SECRET_HASH = "secretSha256"  # a recorded secret input: only the hash of its value

COMMAND = "command:remote:Command"
# Inputs whose change replaces the resource, per the provider's own schema (on top of the
# registration's `replaceOnChanges`, which pulumi-command's SDK also sets to `triggers[*]`).
PROVIDER_REPLACE: Mapping[str, tuple[str, ...]] = {
    COMMAND: ("triggers",),
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix"),
    # A bucket's configurations belong to one bucket (ForceNew on `bucket` in pulumi-aws).
    "aws:s3/bucketVersioning:BucketVersioning": ("bucket",),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ("bucket",),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("bucket",),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": ("bucket",),
}
REPLACE_ALL_PREFIXES = ("random:", "tls:")  # ForceNew on every argument


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown) or (is_secret(value) and isinstance(value.get("value"), Unknown))


def contains_unknown(value: Any) -> bool:
    if is_unknown(value):
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(contains_unknown(v) for v in value)
    return False


def _plain(value: Any) -> Any:
    if is_secret(value):
        return _plain(value["value"])
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def value_hash(value: Any) -> str:
    """sha256 of a value's canonical JSON (secrets unwrapped); how a secret input is recorded."""
    text = json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def stored(value: Any) -> Any:
    """Wire form -> what the state keeps: secrets (at any depth) replaced by the hash of their value."""
    if contains_unknown(value):
        raise ValueError("an unknown value cannot be recorded (only a preview sees unknowns)")
    if is_secret(value):
        return {SECRET_HASH: value_hash(value["value"])}
    if isinstance(value, dict):
        return {k: stored(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [stored(v) for v in value]
    return value


def _is_hash(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SECRET_HASH}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def changed_paths(old: Any, new: Any, path: str = "") -> list[str]:
    """Property paths where `new` (wire form) differs from `old` (recorded form), like the engine's
    detailed diff: `stdin`, `triggers[1]`, `connection` (a secret is compared by hash, as a whole)."""
    if is_unknown(new):
        return [path]
    if _is_hash(old):
        return [] if value_hash(new) == old[SECRET_HASH] else [path]
    if is_secret(new):
        new = new["value"]
        if is_unknown(new):
            return [path]
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new)):
            if k not in old or k not in new:
                # A missing optional input and an explicit null are the same to the engine.
                if old.get(k) is None and new.get(k) is None:
                    continue
                out.append(_join(path, k))
            else:
                out += changed_paths(old[k], new[k], _join(path, k))
        return out
    if isinstance(old, list) and isinstance(new, list | tuple):
        out = []
        for i in range(max(len(old), len(new))):
            p = f"{path}[{i}]"
            if i >= len(old) or i >= len(new):
                out.append(p)
            else:
                out += changed_paths(old[i], new[i], p)
        return out
    if isinstance(old, float | int) and isinstance(new, float | int) and not isinstance(old, bool):
        return [] if float(old) == float(new) else [path]
    return [] if old == new else [path]


def _pattern(p: str) -> re.Pattern[str]:
    """A property path pattern (`triggers[*]`, `connection`, `*`) -> regex matching it and below it."""
    rx = re.escape(p).replace(r"\[\*\]", r"\[\d+\]").replace(r"\*", r"[^.\[]+")
    return re.compile(rf"^{rx}(?:$|[.\[])")


def needs_replace(typ: str, paths: Iterable[str], replace_on_changes: Sequence[str] = ()) -> list[str]:
    """The changed paths that make this a replacement."""
    paths = list(paths)
    if typ.startswith(REPLACE_ALL_PREFIXES):
        return paths
    patterns = [_pattern(p) for p in (*PROVIDER_REPLACE.get(typ, ()), *replace_on_changes)]
    return [p for p in paths if any(rx.match(p) for rx in patterns)]


@dataclass
class Diff:
    op: str
    paths: list[str] = field(default_factory=list)  # changed inputs
    files: list[str] = field(default_factory=list)  # steps: names as scripts/render writes them
    reason: str = ""


def decide(
    typ: str,
    record: Mapping[str, Any] | None,
    inputs: Mapping[str, Any],
    replace_on_changes: Sequence[str] = (),
    force_replace: bool = False,
    gone: str = "",
) -> Diff:
    """The operation for one registered resource. `gone`: why its record no longer describes
    anything real (the lab host it ran on was recreated), so it is created again."""
    if record is None:
        return Diff("create")
    if gone:
        return Diff("create", reason=gone)
    old = record.get("inputs") or {}
    paths = changed_paths(old, dict(inputs))
    files = step_files(old, inputs) if typ == COMMAND else []
    if force_replace:
        return Diff("replace", paths, files, reason="--replace")
    if not paths:
        return Diff("same")
    if not record.get("custom", True):
        return Diff("same")  # a component: nothing of its own to change
    if needs_replace(typ, paths, replace_on_changes):
        return Diff("replace", paths, files)
    return Diff("update", paths, files)


# --- steps (components/remote.py): which of a step's files changed --------------------------------
# `triggers` of a step = [{"script": h, "lib": h}, {file name: h, ...}, {"secrets": [names]}] and
# `stdin` = the bundle (scripts/render writes it out as step.sh, files/<name>, secrets.txt).


def step_files(old_inputs: Mapping[str, Any], new_inputs: Mapping[str, Any]) -> list[str]:
    old_t, new_t = old_inputs.get("triggers"), new_inputs.get("triggers")
    out: list[str] = []
    if (
        isinstance(old_t, list) and isinstance(new_t, list | tuple) and len(old_t) == len(new_t) == 3
        and all(isinstance(x, dict) for x in old_t)
    ):
        heads = [("script", "step.sh"), ("lib", "lib.sh")]
        if is_unknown(new_t[0]):
            out.append("step.sh (known after apply)")
        else:
            out += [name for key, name in heads if old_t[0].get(key) != new_t[0].get(key)]
        if is_unknown(new_t[1]):
            out.append("files/* (known after apply)")
        else:
            for name in sorted(set(old_t[1]) | set(new_t[1])):
                if name not in new_t[1]:
                    out.append(f"files/{name} (removed)")
                elif name not in old_t[1]:
                    out.append(f"files/{name} (added)")
                elif old_t[1][name] != new_t[1][name]:
                    out.append(f"files/{name}")
        if is_unknown(new_t[2]) or _plain(old_t[2]) != _plain(new_t[2]):
            out.append("secrets.txt")
    elif changed_paths(old_t, new_t, "triggers"):
        out.append("triggers")
    if "stdin" in changed_paths(old_inputs.get("stdin"), new_inputs.get("stdin"), "stdin") and not out:
        # The bundle changed but no file's hash did: a secret's value (files carry placeholders).
        out.append("secret values (stdin)")
    return out


def summary_line(counts: Mapping[str, int]) -> str:
    parts = [f"{counts[op]} to {op}" for op in ("create", "update", "replace", "delete") if counts.get(op)]
    return ", ".join(parts + [f"{counts.get('same', 0)} unchanged"])


def delete_order(records: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Dependents (and children) before what they depend on, among the records given."""
    after: dict[str, set[str]] = {u: set() for u in records}  # urn -> those to delete before it
    for urn, rec in records.items():
        for dep in [*(rec.get("dependencies") or []), rec.get("parent") or ""]:
            if dep in after:
                after[dep].add(urn)
    order: list[str] = []
    done: set[str] = set()

    def visit(u: str, path: frozenset[str]) -> None:
        if u in done or u in path:
            return
        for v in sorted(after[u]):
            visit(v, path | {u})
        done.add(u)
        order.append(u)

    for u in sorted(records):
        visit(u, frozenset())
    return order
