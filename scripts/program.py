"""Run the platform program offline, through Pulumi's mocks interface, and record what it registers.

Used by the unit tests, `scripts/render` (plain-text diff of every host change) and the lab (which
passes a mock that really performs each resource). The program is the same `build_platform` that
`__main__.py` runs under `pulumi up`; the ordering of `new_resource` calls comes from the SDK.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import rpc

from components.settings.model import OPTIONAL_SECRET_KEYS, SECRET_KEYS
from components.settings.reader import NAMESPACE

ROOT = Path(__file__).resolve().parent.parent
# The SDK's marker for a secret value in wire form (inputs reach a mock like this).
SECRET_SIG = rpc._special_sig_key  # noqa: SLF001
SECRET_VALUE = rpc._special_secret_sig  # noqa: SLF001


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE


def unwrap(value: Any) -> Any:
    """Wire form -> plain values (secrets unwrapped). Only for mocks that must act on values."""
    if is_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    parent: str
    dependencies: list[str]
    custom: bool
    inputs: dict[str, Any]  # wire form: secrets wrapped
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: list[str] = field(default_factory=list)  # additional_secret_outputs (the engine applies them)
    provider: str = ""  # the provider reference (urn::id) of a custom resource, "" for the default one


_registering = threading.local()


@dataclass(frozen=True)
class Registration:
    """What the engine knows about a registration beyond the mock's arguments (for the lab's diff)."""

    urn: str
    parent: str
    dependencies: tuple[str, ...]
    replace_on_changes: tuple[str, ...]
    additional_secret_outputs: tuple[str, ...]
    delete_before_replace: bool


def current_registration() -> Registration | None:
    """Inside `Mocks.new_resource`: the registration being handled on this thread."""
    return getattr(_registering, "value", None)


class RecordingMonitor(pmocks.MockMonitor):
    """The SDK's mock monitor, also keeping parent and dependencies of each registration."""

    def __init__(self, mocks: pmocks.Mocks) -> None:
        super().__init__(mocks)
        self.records: list[Registered] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (SDK name)
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        _registering.value = Registration(
            urn=self.make_urn(request.parent, request.type, request.name), parent=request.parent,
            dependencies=tuple(sorted(request.dependencies)),
            replace_on_changes=tuple(request.replaceOnChanges),
            additional_secret_outputs=tuple(request.additionalSecretOutputs),
            delete_before_replace=bool(request.deleteBeforeReplace),
        )
        try:
            resp = super().RegisterResource(request)
        finally:
            _registering.value = None
        rec = Registered(
            type=request.type, name=request.name, urn=resp.urn, parent=request.parent,
            dependencies=sorted(request.dependencies), custom=bool(request.custom),
            inputs=_plain(inputs), outputs=_plain(rpc.deserialize_properties(resp.object)),
            secret_outputs=list(request.additionalSecretOutputs),
            provider=request.provider or dict(request.providers).get("kubernetes", ""),
        )
        with self._lock:
            self.records.append(rec)
        return resp


def _plain(value: Any) -> Any:
    """Deserialized properties -> JSON-able structures, keeping the secret wrapper."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "text") and type(value).__name__ == "StringAsset":
        return {"asset": value.text}
    return value


# What K3s writes to /etc/rancher/k3s/k3s.yaml (its shape; the credentials are stand-ins).
DRY_K3S_KUBECONFIG = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: ZHJ5LWNh
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: ZHJ5LWNlcnQ=
    client-key-data: ZHJ5LWtleQ==
"""


def _dry_stdout(stdin: Any) -> str:
    """A step's output when nothing runs: unchanged; the kubeconfig step prints a K3s kubeconfig."""
    import base64

    from components.k3s.render.kubeconfig import BEGIN, END
    from components.remote import read_bundle

    bundle = stdin.get("value") if isinstance(stdin, dict) else stdin
    if isinstance(bundle, str) and bundle and BEGIN in read_bundle(bundle).get("step.sh", ""):
        kc = base64.b64encode(DRY_K3S_KUBECONFIG.encode()).decode()
        return f"{BEGIN}\n{kc}\n{END}\nplatform-step: unchanged"
    return "platform-step: unchanged"


class DryMocks(pmocks.Mocks):
    """Performs nothing: ids are names, outputs echo inputs (with the known output fields)."""

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        fake_pem = "-----BEGIN {}-----\n{}\n-----END {}-----\n"
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = f"generated-{args.name}"
        elif args.typ == "tls:index/privateKey:PrivateKey":
            outputs["privateKeyPem"] = fake_pem.format("PRIVATE KEY", args.name, "PRIVATE KEY")
            outputs["publicKeyPem"] = fake_pem.format("PUBLIC KEY", args.name, "PUBLIC KEY")
        elif args.typ in ("tls:index/selfSignedCert:SelfSignedCert", "tls:index/locallySignedCert:LocallySignedCert"):
            outputs["certPem"] = fake_pem.format("CERTIFICATE", args.name, "CERTIFICATE")
        elif args.typ == "tls:index/certRequest:CertRequest":
            outputs["certRequestPem"] = fake_pem.format("CERTIFICATE REQUEST", args.name, "CERTIFICATE REQUEST")
        elif args.typ.startswith("aws:s3/"):
            outputs.setdefault("bucket", args.inputs.get("bucket", args.name))
            outputs["arn"] = f"arn:aws:s3:::{outputs['bucket']}"
        if args.typ == "command:remote:Command":
            outputs.update(stdout=_dry_stdout(args.inputs.get("stdin")), stderr="")
        return f"{args.name}-id", outputs

    def call(self, args: pmocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def stack_config(stack: str) -> dict[str, Any]:
    """The `platform:*` values of Pulumi.<stack>.yaml, prefix removed."""
    data = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}
    out: dict[str, Any] = {}
    for key, value in (data.get("config") or {}).items():
        ns, _, short = key.partition(":")
        if ns == NAMESPACE:
            out[short] = value
    return out


PLACEHOLDER_SECRETS = {k: f"placeholder-{k}" for k in SECRET_KEYS}


@dataclass
class Run:
    records: list[Registered]
    outputs: dict[str, Any]  # stack outputs in wire form: secrets wrapped, exactly as the engine stores them

    def plain_outputs(self) -> dict[str, Any]:
        return unwrap(self.outputs)  # type: ignore[no-any-return]

    def children(self, component_type: str) -> dict[str, Registered]:
        """The resources registered under the (one) component of `component_type`, by name."""
        comp = next(x for x in self.records if x.type == component_type)
        return {x.name: x for x in self.records if x.parent == comp.urn}


def step_bundle(step: Registered) -> dict[str, str]:
    """The bundle a registered step sends on stdin (secret or not), member -> text."""
    from components.remote import read_bundle

    stdin = step.inputs["stdin"]
    return read_bundle(stdin["value"] if is_secret(stdin) else stdin)


def run_program(
    stack: str,
    config: Mapping[str, Any],
    secrets: Mapping[str, str] | None = None,
    mocks: pmocks.Mocks | None = None,
    preview: bool = False,
) -> Run:
    """Run `build_platform` for `config` (+ `secrets`, stored as secret config) under mocks."""
    from components.platform import build_platform
    from components.settings.load import load_settings

    mocks = mocks or DryMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="platform", stack=stack, preview=preview, monitor=monitor)
    all_values = dict(config)
    all_values.update(PLACEHOLDER_SECRETS if secrets is None else secrets)
    wire = {
        f"{NAMESPACE}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in all_values.items()
    }
    secret_keys = [f"{NAMESPACE}:{k}" for k in (*SECRET_KEYS, *OPTIONAL_SECRET_KEYS) if k in all_values]
    pulumi.runtime.set_all_config(wire, secret_keys)
    result: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        outputs = build_platform(load_settings())
        # Serialised as `pulumi.export` would be, so nested secrets stay marked individually.
        wire = asyncio.ensure_future(rpc.serialize_property(outputs, [], None))
        return pulumi.Output.from_input(wire).apply(result.update)

    program()
    return Run(records=monitor.records, outputs=result)
