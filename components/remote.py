"""The one provisioning primitive: run one idempotent script, with its files, on one host.

A step is one `command.remote.Command`. Its standard input carries a deterministic bundle:

    step.sh          the host script (components/<x>/host/*.sh)
    lib.sh           components/step_lib.sh, shared helpers every script sources
    files/<name>     rendered, non-secret files the script installs where it wants them
    secrets/<name>   secret values (mode 0600 on the host); files refer to them as {{secret:NAME}}

and its command line is a fixed bootstrap that unpacks the bundle into a private temporary
directory and runs the script as root through `sudo -n`. Why one resource and stdin:
- secrets never reach a command line (pulumi-command prints it on failure) nor the environment
  (sshd drops variables not in AcceptEnv);
- the connection user is non-root, so the files must be installed by the root script anyway;
  one SSH session per step also makes the step atomic;
- `triggers` holds a hash per script and file, so `pulumi preview` names the files that changed and
  a change re-runs exactly the steps that use them (see `scripts/render` for the contents).

Scripts end by printing `platform-step: changed ...` or `platform-step: unchanged` (step_lib.sh);
the lab and the idempotency tests read that line.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import shlex
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_command as command

from components.settings import Host, Settings

STEP_LIB = Path(__file__).parent / "step_lib.sh"
STATUS_PREFIX = "platform-step:"


def sha256(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def make_bundle(script: str, files: Mapping[str, str], secrets: Mapping[str, str]) -> str:
    """base64(tar.gz) of the step, byte-identical for identical inputs (fixed mtimes, owners, order)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = [("step.sh", script, 0o700), ("lib.sh", STEP_LIB.read_text(), 0o600)]
        entries += [(f"files/{k}", v, 0o600) for k, v in sorted(files.items())]
        entries += [(f"secrets/{k}", v, 0o600) for k, v in sorted(secrets.items())]
        for name, text, mode in entries:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uid, info.gid = len(data), mode, 0, 0, 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    zipped = gzip.compress(raw.getvalue(), mtime=0)
    return base64.b64encode(zipped).decode()


def read_bundle(bundle: str) -> dict[str, str]:
    """The inverse of make_bundle: member name -> text. Used by scripts/render and the lab."""
    out: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(base64.b64decode(bundle)))) as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m)
            if f is not None:
                out[m.name] = f.read().decode()
    return out


def bootstrap_command(step_id: str, sudo: bool = True) -> str:
    """The fixed command line of every step: unpack stdin, run step.sh as root, clean up."""
    inner = (
        "set -euo pipefail; umask 077; "
        "d=$(mktemp -d /tmp/platform-step.XXXXXXXX); "
        'trap "rm -rf -- \\"\\$d\\"" EXIT; '
        'base64 -d | tar -xzf - -C "$d"; '
        f'STEP_ID={shlex.quote(step_id)} STEP_DIR="$d" /bin/bash "$d/step.sh" </dev/null'
    )
    prefix = "sudo -n " if sudo else ""
    return f"{prefix}/bin/bash -c {shlex.quote(inner)}"


def connection_for(settings: Settings, host: Host) -> command.remote.ConnectionArgs:
    if settings.secrets is None:
        raise ValueError("settings were parsed without secrets; use load_settings()")
    return command.remote.ConnectionArgs(
        host=host.public_ip,
        port=settings.ssh.port,
        user=settings.ssh.user,
        private_key=settings.secrets.ssh_private_key,
        host_key=host.host_key,
        dial_error_limit=settings.ssh.dial_error_limit,
        per_dial_timeout=settings.ssh.per_dial_timeout,
    )


@dataclass
class StepSpec:
    """What a component asks for; see `host_step`."""

    name: str
    host: Host
    script: Path
    files: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()
    secret_output: bool = False  # stdout carries a secret (see plan.Step.secret_output)


def render_params(params: Mapping[str, str]) -> str:
    """Scalar, non-secret parameters as a shell-sourceable file (`. "$STEP_DIR/files/params.env"`)."""
    return "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in sorted(params.items()))


def host_step(settings: Settings, spec: StepSpec, parent: pulumi.Resource) -> command.remote.Command:
    """Register one step. `spec.files` must be non-secret; secrets go in `spec.secrets` only."""
    script_text = spec.script.read_text()
    files = dict(spec.files)
    if spec.params:
        files["params.env"] = render_params(spec.params)
    file_names = sorted(files)
    secret_names = sorted(spec.secrets)

    def bundle(args: list[str]) -> str:
        return make_bundle(
            script_text,
            dict(zip(file_names, args[: len(file_names)], strict=True)),
            dict(zip(secret_names, args[len(file_names):], strict=True)),
        )

    inputs = [files[n] for n in file_names] + [spec.secrets[n] for n in secret_names]
    stdin = pulumi.Output.all(*inputs).apply(bundle)
    if secret_names:
        stdin = pulumi.Output.secret(stdin)
    hashes = pulumi.Output.all(*[files[n] for n in file_names]).apply(
        lambda texts: {n: sha256(t) for n, t in zip(file_names, texts, strict=True)}
    )
    triggers = [
        {"script": sha256(script_text), "lib": sha256(STEP_LIB.read_text())},
        hashes,
        {"secrets": secret_names},
    ]
    may_leak = bool(secret_names) or spec.secret_output
    return command.remote.Command(
        spec.name,
        connection=connection_for(settings, spec.host),
        create=bootstrap_command(spec.name),
        stdin=stdin,
        triggers=triggers,
        logging=command.remote.Logging.NONE if may_leak else command.remote.Logging.STDOUT_AND_STDERR,
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(spec.depends_on),
            additional_secret_outputs=["stdout", "stderr"] if may_leak else None,
            # The host keeps running what a deleted step installed; deletion is a no-op by design.
            delete_before_replace=False,
        ),
    )
