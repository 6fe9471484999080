"""The lab stack's configuration: `--set KEY=VALUE` overlays (as `pulumi config set --path`), the
stack file with the lab's CA and secrets merged in, and what the last successful apply recorded
(its outputs and overlay, for scripts/verify)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.lablib.report import StepFailed
from scripts.program import stack_config

# `--set` may not touch these: the lab supplies them (secrets, its CA) or is built from them (hosts).
LAB_OWNED = ("hosts", "sshPrivateKey", "s3AccessKey", "s3SecretKey", "s3.caCertificate", "deadMansSwitchUrl")


@dataclass
class Target:
    """What the resources live on: lab hosts (by address) with their incarnation, and the S3 server."""

    ip_to_name: dict[str, str]
    host_ids: dict[str, str | None]  # host name -> /etc/machine-id of its current disk (None: no host)
    s3_id: str | None
    s3: dict[str, str] = field(default_factory=dict)
    ca_file: str | None = None
    ssh_key: str = ""  # the lab's deploy key: for deletes (the state keeps only a hash of connections)


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` (repeatable) -> {dotted key: value}. VALUE is JSON; a bare word that is not
    JSON is taken as a string (`--set postgres.poolMode=transaction`)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, KEY a dotted path such as postgres.maxConnections")
        if key in LAB_OWNED or key.split(".")[0] in LAB_OWNED:
            raise ValueError(f"--set {key}: the lab supplies this key itself")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            if not raw or any(c in raw for c in "[]{}\"',") or raw.strip() != raw:
                raise ValueError(f"--set {item!r}: the value is not JSON (quote strings: KEY='\"text\"')") from None
            value = raw
        out[key] = value
    return out


def apply_overlay(cfg: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """The stack config with each dotted key of the overlay set (as `pulumi config set --path`)."""
    out = copy.deepcopy(dict(cfg))
    for key, value in overlay.items():
        parts = key.split(".")
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ValueError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a mapping")
            node = child
        node[parts[-1]] = copy.deepcopy(value)
    return out


def lab_config(
    stack: str = "lab", overlay: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, str], dict[str, str], str | None]:
    """The lab stack's config (+ overlay) with the lab's CA merged in, its secrets, and S3 access."""
    from scripts.lablib import receiver
    from scripts.lablib import s3 as lab_s3
    from scripts.lablib.image import key_path

    cfg = apply_overlay(stack_config(stack), overlay or {})
    ca_file = str(lab_s3.ca_cert_path())
    for path in (Path(ca_file), key_path()):
        if not path.exists():
            raise StepFailed(f"{path} is missing: run `scripts/lab prepare` first")
    cfg["s3"] = dict(cfg.get("s3") or {}, caCertificate=Path(ca_file).read_text())
    access, secret = lab_s3.s3_credentials()
    secret_cfg = {
        "sshPrivateKey": key_path().read_text(),
        "s3AccessKey": access,
        "s3SecretKey": secret,
        # A secret in real stacks (the URL is the credential); in the lab the receiver's own path.
        "deadMansSwitchUrl": receiver.url(receiver.DEADMAN_PATH),
    }
    s3 = {"endpoint": lab_s3.s3_endpoint(), "access_key": access, "secret_key": secret}
    return cfg, secret_cfg, s3, ca_file


def state_path() -> Path:
    from scripts.lablib.util import lab_dir

    return lab_dir() / "state.json"


def saved_outputs() -> dict[str, Any]:
    """The stack outputs of the last successful lab apply (wire form: secrets wrapped)."""
    from scripts.lablib.state import read

    return read(state_path()).get("outputs", {}).get("value", {})  # type: ignore[no-any-return]


def saved_overlay() -> dict[str, Any]:
    """The `--set` overlay of the last successful lab apply ({} = Pulumi.lab.yaml as it is)."""
    from scripts.lablib.state import read

    return read(state_path()).get("config", {})  # type: ignore[no-any-return]


def lab_target(cfg: Mapping[str, Any], s3: dict[str, str], ca_file: str | None, ssh_key: str) -> Target:
    from scripts.lablib import hosts as lab_hosts
    from scripts.lablib import s3 as lab_s3

    hosts = cfg.get("hosts") or {}
    ip_to_name = {h.get("publicIp", h["privateIp"]): h["name"] for role in hosts.values() for h in role}
    host_ids: dict[str, str | None] = {}
    for name in ip_to_name.values():
        mid = lab_hosts.root_dir(name) / "etc" / "machine-id"
        running = lab_hosts.wrapper_pid(name) is not None
        host_ids[name] = mid.read_text().strip() if running and mid.exists() else None
    return Target(ip_to_name, host_ids, lab_s3.instance_id(), s3, ca_file, ssh_key)
