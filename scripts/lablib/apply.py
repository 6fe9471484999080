"""Apply a stack to the lab's hosts as `pulumi up` would, without the Pulumi CLI: the program runs
under Pulumi's mocks interface, and this mock plays the engine and the providers.

The engine's part: every registration is diffed against the lab state (`state.py`, `plan.py`):
`same` resources are not performed (their recorded outputs are returned), others are created,
updated or replaced, and recorded resources the program no longer registers are deleted at the
end. `preview_stack` only plans (a dry run: values that depend on what would change are unknown,
as in `pulumi preview`); `apply_stack` plans, prints the plan, then performs it.

The providers' part:
- `command:remote:Command`: `create` (or `update`, when one is given and the diff is an update)
  runs over SSH with the step's stdin, exactly as pulumi-command runs it; a non-zero exit stops the
  run with host, step and the script's own error output (secret values masked). `delete` runs when
  a resource with one is deleted or replaced.
- `random:*:RandomPassword`, `tls:*`: generated here (`generate.py`) and kept in the state.
- `aws:s3/bucket:Bucket`: created on (and deleted from) the lab's S3 server; its versioning,
  lifecycle configuration, public access block and encryption (`POLICIES`) are put to it, and
  taken off again when deleted, so the lab's buckets carry the real configuration.

Ordering and parallelism are the SDK's own (a resource's `new_resource` runs only after all it
depends on have returned), as under `pulumi up`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pulumi.runtime import mocks as pmocks
from pulumi.runtime import rpc

from scripts.lablib import plan as lplan
from scripts.lablib.generate import random_password, tls_outputs
from scripts.lablib.labconfig import Target, lab_config, lab_target, state_path
from scripts.lablib.report import ApplyReport, PlanEntry, StepFailed, StepResult
from scripts.lablib.state import LabState
from scripts.program import current_registration, is_secret, run_program, unwrap

STATUS_PREFIX = "platform-step:"
STEP_TIMEOUT = 900  # seconds; the slowest step (package installs) takes well under this
OUTPUT_KEEP = 20000  # characters of a step's stdout/stderr kept in the state (the tail)
COMMAND = lplan.COMMAND
BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
POLICIES = (VERSIONING, LIFECYCLE, PUBLIC_ACCESS, ENCRYPTION)
RANDOM = "random:index/randomPassword:RandomPassword"
# Outputs a provider computes (unknown in a preview until the resource exists).
COMPUTED = {
    COMMAND: ("stdout", "stderr"),
    RANDOM: ("result", "bcryptHash"),
    "tls:index/privateKey:PrivateKey": ("privateKeyPem", "publicKeyPem", "privateKeyPemPkcs8"),
    "tls:index/selfSignedCert:SelfSignedCert": ("certPem",),
    "tls:index/locallySignedCert:LocallySignedCert": ("certPem",),
    "tls:index/certRequest:CertRequest": ("certRequestPem",),
}


def _fingerprint(inputs: dict[str, Any]) -> str:
    """The previous state format's key for a generated value (inputs, secrets unwrapped)."""
    return hashlib.sha256(json.dumps(unwrap(inputs), sort_keys=True).encode()).hexdigest()


def _mask(text: str, secret_values: Iterable[str]) -> str:
    for s in sorted(set(secret_values), key=len, reverse=True):
        if len(s) >= 4:
            text = text.replace(s, "***")
    return text


class LabMocks(pmocks.Mocks):
    """The engine's diff + the providers. `preview`: plan only; else plan and perform."""

    def __init__(
        self,
        state: LabState,
        report: ApplyReport,
        target: Target,
        preview: bool,
        rerun_all: bool = False,
        replace: Iterable[str] = (),
    ) -> None:
        self.state = state
        self.report = report
        self.target = target
        self.preview = preview
        self.rerun_all = rerun_all
        self.replace = set(replace)
        self.seen: set[str] = set()
        self.entries: list[PlanEntry] = []  # what the diff said for each registration
        self.replaced_deletes: list[dict[str, Any]] = []  # old records whose delete runs at the end
        self.t0 = time.monotonic()
        self._lock = threading.Lock()

    def call(self, args: pmocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None

    # --- the engine ---------------------------------------------------------------------------

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        reg = current_registration()
        if reg is None:
            raise StepFailed(f"lab mock: {args.name} registered outside the recording monitor")
        typ, inputs = args.typ, args.inputs
        record = self.state.get(reg.urn)
        host = self._host_of(inputs) if typ == COMMAND else ""
        gone = ""
        if record is not None and typ == COMMAND and record.get("host_id") != self.target.host_ids.get(host):
            gone = f"{host} is not the host this step ran on (recreated or down): the step runs again"
        if record is not None and typ in (BUCKET, *POLICIES) and record.get("s3_id") != self.target.s3_id:
            gone = "the lab's S3 server was restarted since"
        diff = lplan.decide(typ, record, inputs, reg.replace_on_changes,
                            force_replace=args.name in self.replace or reg.urn in self.replace, gone=gone)
        entry = PlanEntry(reg.urn, typ, args.name, host, diff.op, diff.paths, diff.files, diff.reason)
        with self._lock:
            self.entries.append(entry)
            self.seen.add(reg.urn)
        if self.preview:
            return self._preview(args, record, diff.op)
        return self._apply(args, reg, record, diff.op, host)

    def _host_of(self, inputs: Mapping[str, Any]) -> str:
        ip = unwrap(inputs.get("connection") or {}).get("host", "")
        if isinstance(ip, str):
            return self.target.ip_to_name.get(ip, ip)
        return "?"  # unknown during a preview

    def _recorded(self, args: pmocks.MockResourceArgs, record: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        return record.get("id") or f"{args.name}-id", {**args.inputs, **(record.get("outputs") or {})}

    def _preview(self, args: pmocks.MockResourceArgs, record: dict[str, Any] | None, op: str
                 ) -> tuple[str, dict[str, Any]]:
        if op == "same" and record is not None:
            return self._recorded(args, record)
        outputs = dict(args.inputs)
        if args.typ == COMMAND and op == "update" and record is not None:
            outputs.update(record.get("outputs") or {})  # pulumi-command keeps the old stdout
        else:
            outputs.update({k: rpc.UNKNOWN for k in COMPUTED.get(args.typ, ())})
        if args.typ == BUCKET:
            bucket = unwrap(args.inputs).get("bucket") or args.name
            if isinstance(bucket, str):
                outputs.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}", id=bucket)
                return bucket, outputs
        return (record or {}).get("id") or f"{args.name}-id", outputs

    def _apply(self, args: pmocks.MockResourceArgs, reg: Any, record: dict[str, Any] | None, op: str, host: str
               ) -> tuple[str, dict[str, Any]]:
        typ, inputs = args.typ, args.inputs
        if op == "same" and record is not None and not (self.rerun_all and typ == COMMAND):
            with self._lock:
                self.report.done[reg.urn] = "same"
            return self._recorded(args, record)
        if op == "replace" and record is not None and record.get("delete") is not None:
            if reg.delete_before_replace:
                self._run_delete(record)
            else:
                with self._lock:
                    self.replaced_deletes.append(record)
        rec: dict[str, Any] = {
            "type": typ, "name": args.name, "custom": bool(args.custom), "parent": reg.parent,
            "dependencies": list(reg.dependencies), "inputs": lplan.stored(dict(inputs)),
        }
        resource_id = f"{args.name}-id"
        outputs = dict(inputs)
        if typ == COMMAND:
            computed = self._command(args.name, host, op, inputs)
            outputs.update(computed)
            conn = unwrap(inputs["connection"])
            rec.update(
                outputs=computed, host=host, host_id=self.target.host_ids.get(host),
                address=conn["host"], user=conn["user"], port=int(conn.get("port", 22)),
                delete=lplan.stored(inputs.get("delete")),
            )
        elif typ == RANDOM:
            plain = unwrap(inputs)
            legacy = self.state.legacy_value(f"random/{args.name}", _fingerprint(inputs)) if op == "create" else None
            computed = {"result": legacy if isinstance(legacy, str) else random_password(plain)}
            outputs.update(computed)
            rec["outputs"] = computed
        elif typ.startswith("tls:index/"):
            legacy = self.state.legacy_value(f"tls/{typ}/{args.name}", _fingerprint(inputs)) if op == "create" else None
            computed = legacy if isinstance(legacy, dict) else tls_outputs(typ, unwrap(inputs))
            outputs.update(computed)
            rec["outputs"] = computed
        elif typ == BUCKET:
            bucket = unwrap(inputs).get("bucket") or args.name
            self._ensure_bucket(bucket)
            computed = {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}", "id": bucket}
            outputs.update(computed)
            rec.update(outputs=computed, s3_id=self.target.s3_id)
            resource_id = bucket
        elif typ in POLICIES:
            plain = unwrap(inputs)
            self._put_policy(typ, plain)
            rec.update(s3_id=self.target.s3_id)
            resource_id = f"{plain['bucket']}-{typ.rsplit(':', 1)[1]}"
        elif args.custom and not typ.startswith("pulumi:providers:"):
            raise StepFailed(f"lab mock: no provider for {typ} ({args.name})")
        rec["id"] = resource_id
        self.state.put(reg.urn, rec)
        with self._lock:
            self.report.done[reg.urn] = op
        return resource_id, outputs

    def delete_unregistered(self) -> None:
        """After a successful program run: delete what is recorded but no longer registered (the
        dependents before what they depend on), then the originals of replaced resources."""
        gone = {urn: rec for urn, rec in self.state.resources.items() if urn not in self.seen}
        for urn in lplan.delete_order(gone):
            rec = gone[urn]
            self._delete(urn, rec)
            with self._lock:
                self.report.done[urn] = "delete"
        for rec in self.replaced_deletes:
            self._run_delete(rec)

    def planned_deletes(self) -> list[PlanEntry]:
        gone = {urn: rec for urn, rec in self.state.resources.items() if urn not in self.seen}
        return [PlanEntry(urn, gone[urn].get("type", "?"), gone[urn].get("name", urn), gone[urn].get("host", ""),
                          "delete") for urn in lplan.delete_order(gone)]

    def _delete(self, urn: str, rec: dict[str, Any]) -> None:
        typ = rec.get("type", "")
        if typ == COMMAND and rec.get("delete") is not None:
            self._run_delete(rec)
        elif typ == BUCKET and rec.get("s3_id") == self.target.s3_id:
            self._delete_bucket(rec["outputs"]["bucket"], bool((rec.get("inputs") or {}).get("forceDestroy")))
        elif typ in POLICIES and rec.get("s3_id") == self.target.s3_id:
            self._delete_policy(typ, (rec.get("inputs") or {})["bucket"])
        self.state.drop(urn)
        self._log(f"{rec.get('name', urn):<28} {rec.get('host', ''):<8} deleted")

    # --- providers ----------------------------------------------------------------------------

    def _s3_client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.target.s3["endpoint"],
            aws_access_key_id=self.target.s3["access_key"],
            aws_secret_access_key=self.target.s3["secret_key"],
            region_name="us-east-1",
            verify=self.target.ca_file or True,
        )

    def _ensure_bucket(self, bucket: str) -> None:
        client = self._s3_client()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
            self._log(f"bucket {bucket}: created")

    def _put_policy(self, typ: str, inputs: Mapping[str, Any]) -> None:
        """A bucket's configuration, as pulumi-aws puts it (its inputs in S3's API shape)."""
        client, bucket = self._s3_client(), inputs["bucket"]
        if typ == VERSIONING:
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=s3_shape(
                inputs["versioningConfiguration"]))
        elif typ == LIFECYCLE:
            client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={
                "Rules": s3_shape(inputs["rules"])})
        elif typ == PUBLIC_ACCESS:
            client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=s3_shape(
                {k: inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                        "restrictPublicBuckets") if k in inputs}))
        else:
            client.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
                "Rules": s3_shape(inputs["rules"])})
        self._log(f"bucket {bucket}: {typ.rsplit(':', 1)[1]} put")

    def _delete_policy(self, typ: str, bucket: str) -> None:
        client = self._s3_client()
        if typ == VERSIONING:  # a bucket once versioned can only be suspended (as on AWS)
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
        elif typ == LIFECYCLE:
            client.delete_bucket_lifecycle(Bucket=bucket)
        elif typ == PUBLIC_ACCESS:
            client.delete_public_access_block(Bucket=bucket)
        else:
            client.delete_bucket_encryption(Bucket=bucket)

    def _delete_bucket(self, bucket: str, force: bool) -> None:
        client = self._s3_client()
        if force:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    client.delete_object(Bucket=bucket, Key=obj["Key"])
        client.delete_bucket(Bucket=bucket)  # fails while not empty, as on AWS without forceDestroy

    def _log(self, msg: str) -> None:
        with self._lock:
            print(f"[{time.monotonic() - self.t0:7.1f}s] {msg}", flush=True)

    def _command(self, name: str, host_name: str, op: str, inputs: dict[str, Any]) -> dict[str, str]:
        conn = unwrap(inputs["connection"])
        stdin = unwrap(inputs.get("stdin") or "")
        from components.remote import read_bundle

        secret_values = [conn.get("privateKey", "")]
        if stdin:
            try:
                secret_values += [v for k, v in read_bundle(stdin).items() if k.startswith("secrets/")]
            except (OSError, ValueError, EOFError):  # not a step bundle: nothing more to mask
                pass
        script = unwrap(inputs.get("update")) if op == "update" and inputs.get("update") else unwrap(inputs["create"])
        started = time.monotonic()
        proc = self._ssh(name, host_name, conn, script, stdin, secret_values, started)
        if proc.returncode != 0:
            self._fail(name, host_name, started, f"exit {proc.returncode}", proc.stderr + proc.stdout, secret_values)
        last = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith(STATUS_PREFIX)), None)
        if last is None:
            self._fail(name, host_name, started, "no status line", proc.stderr + proc.stdout, secret_values)
        assert last is not None
        detail = last[len(STATUS_PREFIX) :].strip()
        status = "unchanged" if detail == "unchanged" else "changed"
        res = StepResult(name, host_name, status, _mask(detail, secret_values), time.monotonic() - started, op)
        with self._lock:
            self.report.steps.append(res)
        self._log(f"{name:<28} {host_name:<8} {res.detail[:110]} ({op}, {res.seconds:.1f}s)")
        return {
            "stdout": _mask(proc.stdout, secret_values)[-OUTPUT_KEEP:],
            "stderr": _mask(proc.stderr, secret_values)[-OUTPUT_KEEP:],
        }

    def _run_delete(self, rec: Mapping[str, Any]) -> None:
        """A recorded step's `delete` command, on the host it ran on. The state keeps only a hash of
        the connection (it holds the private key) and of a secret stdin: the lab's own key and user
        reach the host; a delete that needs a secret stdin cannot be replayed and fails."""
        delete, stdin = rec.get("delete"), (rec.get("inputs") or {}).get("stdin") or ""
        name, host = str(rec.get("name", "?")), str(rec.get("host", "?"))
        started = time.monotonic()
        if not isinstance(delete, str) or not isinstance(stdin, str):
            self._fail(name, host, started, "delete", "the state keeps only a hash of this step's secret "
                       "delete command or stdin; it cannot be run again", [])
            return
        conn = {"host": rec["address"], "user": rec["user"], "port": rec.get("port", 22),
                "privateKey": self.target.ssh_key}
        proc = self._ssh(name, host, conn, delete, stdin, [self.target.ssh_key], started)
        if proc.returncode != 0:
            self._fail(name, host, started, f"delete: exit {proc.returncode}", proc.stderr + proc.stdout, [])
        res = StepResult(name, host, "changed", "deleted", time.monotonic() - started, "delete")
        with self._lock:
            self.report.steps.append(res)

    def _ssh(self, name: str, host_name: str, conn: Mapping[str, Any], command: str, stdin: str,
             secret_values: list[str], started: float) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryDirectory(prefix="lab-apply-") as tmp:
            key = Path(tmp) / "key"
            fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(str(conn["privateKey"]).rstrip("\n") + "\n")
            argv = [
                "ssh", "-i", str(key), "-p", str(int(conn.get("port", 22))),
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", f"ConnectTimeout={int(conn.get('perDialTimeout', 15))}",
                f"{conn['user']}@{conn['host']}", command,
            ]
            attempts = max(1, int(conn.get("dialErrorLimit", 10)))
            for attempt in range(1, attempts + 1):
                try:
                    proc = subprocess.run(argv, input=stdin, text=True, capture_output=True, timeout=STEP_TIMEOUT)
                except subprocess.TimeoutExpired as e:
                    self._fail(
                        name, host_name, started, f"timed out after {STEP_TIMEOUT}s", str(e.stderr or ""), secret_values
                    )
                # 255 = ssh itself failed (dial); retried like pulumi-command's dialErrorLimit.
                if proc.returncode != 255 or attempt == attempts:
                    break
                time.sleep(min(2.0 * attempt, 5.0))
        return proc

    def _fail(self, name: str, host: str, started: float, why: str, output: str, secret_values: list[str]) -> None:
        tail = "\n".join(_mask(output, secret_values).strip().splitlines()[-25:])
        with self._lock:
            self.report.steps.append(StepResult(name, host, "failed", why, time.monotonic() - started))
        msg = f"step {name} on {host} failed ({why}):\n{tail}"
        self._log(f"FAILED {msg}")
        raise StepFailed(msg)


def _print_plan(stack: str, report: ApplyReport) -> None:
    counts = report.plan.counts()
    print(f"plan: stack {stack}, {sum(counts.values())} resources (state {report.state_file})", flush=True)
    for line in report.plan.lines():
        print(line, flush=True)
    print(f"plan: {lplan.summary_line(counts)}", flush=True)


def run_plan(stack: str, cfg: dict[str, Any], secret_cfg: dict[str, str], state: LabState, target: Target,
             replace: Iterable[str] = (), mocks_cls: type[LabMocks] = LabMocks) -> ApplyReport:
    """The preview: the program as a dry run against `state`; prints the plan."""
    report = ApplyReport(state_file=str(state.path))
    mocks = mocks_cls(state, report, target, preview=True, replace=replace)
    run_program(stack, cfg, secrets=secret_cfg, mocks=mocks, preview=True)
    report.plan.entries = [*mocks.entries, *mocks.planned_deletes()]
    names = {e.name for e in mocks.entries} | {e.urn for e in mocks.entries}
    unknown = sorted(set(replace) - names)
    if unknown:
        raise StepFailed(f"--replace {', '.join(unknown)}: no such resource in the program")
    _print_plan(stack, report)
    return report


def run_apply(stack: str, cfg: dict[str, Any], secret_cfg: dict[str, str], state: LabState, target: Target,
              overlay: Mapping[str, Any] | None = None, rerun_all: bool = False, replace: Iterable[str] = (),
              mocks_cls: type[LabMocks] = LabMocks) -> ApplyReport:
    """Plan (printed), then perform: what `pulumi up` does. Errors end up in `report.error`."""
    started = time.monotonic()
    report = ApplyReport(rerun_all=rerun_all)
    try:
        report.plan = run_plan(stack, cfg, secret_cfg, state, target, replace, mocks_cls).plan
        if rerun_all:
            print("plan: --rerun-all: every step runs, whatever the plan says", flush=True)
        mocks = mocks_cls(state, report, target, preview=False, rerun_all=rerun_all, replace=replace)
        run = run_program(stack, cfg, secrets=secret_cfg, mocks=mocks)
        mocks.delete_unregistered()
        state.finish(run.outputs, dict(overlay or {}))
        if not report.steps:
            mocks._log("apply: 0 commands performed: every step's inputs equal the recorded ones")  # noqa: SLF001
    except Exception as e:  # noqa: BLE001 - reported with host/step, then the run stops
        report.error = str(e)
        print(f"apply: {e}", file=sys.stderr, flush=True)
    report.seconds = time.monotonic() - started
    return report


def preview_stack(stack: str = "lab", overlay: Mapping[str, Any] | None = None, replace: Iterable[str] = ()
                  ) -> dict[str, Any]:
    """`pulumi preview` for the lab: print the plan; return the JSON summary (printed last by the CLI)."""
    started = time.monotonic()
    cfg, secret_cfg, s3, ca_file = lab_config(stack, overlay)
    target = lab_target(cfg, s3, ca_file, secret_cfg["sshPrivateKey"])
    report = run_plan(stack, cfg, secret_cfg, LabState(state_path()), target, replace)
    return {"preview": stack, **report.plan.summary(), "config": dict(overlay or {}),
            "seconds": round(time.monotonic() - started, 1)}


def apply_stack(
    stack: str = "lab",
    overlay: Mapping[str, Any] | None = None,
    rerun_all: bool = False,
    replace: Iterable[str] = (),
) -> ApplyReport:
    """`pulumi up` for the lab: plan (printed), then perform it. `rerun_all`: every step runs even
    when its inputs are unchanged (the idempotency check: each must then say unchanged)."""
    try:
        cfg, secret_cfg, s3, ca_file = lab_config(stack, overlay)
        target = lab_target(cfg, s3, ca_file, secret_cfg["sshPrivateKey"])
    except Exception as e:  # noqa: BLE001
        print(f"apply: {e}", file=sys.stderr, flush=True)
        return ApplyReport(error=str(e), rerun_all=rerun_all)
    return run_apply(stack, cfg, secret_cfg, LabState(state_path()), target, overlay, rerun_all, replace)


__all__ = ["LabMocks", "LabState", "apply_stack", "is_secret", "preview_stack"]


# pulumi-aws input names that do not become the S3 API's by capitalizing the first letter.
_S3_NAMES = {"id": "ID", "sseAlgorithm": "SSEAlgorithm", "kmsMasterKeyId": "KMSMasterKeyID",
             "blockPublicAcls": "BlockPublicAcls", "ignorePublicAcls": "IgnorePublicAcls"}


def s3_shape(value: Any) -> Any:
    """pulumi-aws's camelCase inputs -> the S3 API's PascalCase request shape (whole numbers as int,
    as the wire form carries every number as a float)."""
    if isinstance(value, dict):
        return {_S3_NAMES.get(k, k[:1].upper() + k[1:]): s3_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [s3_shape(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
