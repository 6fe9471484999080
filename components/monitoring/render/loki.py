"""Logs on real VMs (`monitoring.loki.enabled`): Loki as a single binary on the monitoring VM and
Grafana Alloy reading the journals systemd-journal-remote received (and the monitoring VM's own),
both from Grafana's apt repository. Neither installs on the lab machine: their configs are checked
against the upstream reference (tests/unit/data, scripts/upstream_schemas.py). Pure.

Loki: filesystem storage under /var/lib/loki, or the `backups` bucket below `loki/<stack>/`
(`monitoring.loki.storage: s3`; the S3 key pair as placeholders, substituted on the VM); retention
`monitoring.loki.retentionDays` enforced by the compactor; HTTP on the private address (Grafana and
the admins), gRPC on loopback (one instance: no ring peers).
Alloy: every entry labelled like the Prometheus targets - `host` (the journal's `_HOSTNAME`),
`vm_role`, `stack` - plus `unit` and `level`; its HTTP server (metrics) on the private address.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import yaml

from components.contract import ROLE_LABEL
from components.monitoring import names as n
from components.plan import SECRET_S3_ACCESS, SECRET_S3_SECRET, placeholder
from components.settings import Settings

HEADER = "# Rendered by the platform program (components/monitoring/render/loki.py).\n"
LOKI_DIR = "/var/lib/loki"
LOKI_GRPC_PORT = 9096
S3_CA_FILE = "/etc/loki/s3-ca.crt"
SCHEMA_FROM = "2026-01-01"  # the first (and only) period: tsdb, schema v13 (Loki 3's recommendation)


def s3_prefix(settings: Settings) -> str:
    """Where Loki's chunks and index live in the backups bucket (the contract's BucketUse)."""
    return f"loki/{settings.stack}/"


def render_loki_config(settings: Settings, mon_ip: str) -> str:
    m = settings.monitoring
    s3 = m.loki_storage == "s3"
    store = "s3" if s3 else "filesystem"
    common: dict[str, Any] = {
        "path_prefix": LOKI_DIR,
        "replication_factor": 1,
        "instance_addr": "127.0.0.1",
        "ring": {"kvstore": {"store": "inmemory"}},
    }
    if s3:
        ep = urlsplit(settings.s3.endpoint)
        s3_conf: dict[str, Any] = {
            "endpoint": ep.netloc,
            "insecure": ep.scheme == "http",
            "region": settings.s3.region,
            "bucketnames": settings.s3.buckets.backups,
            "s3forcepathstyle": True,  # S3-compatible stores; the platform's other clients use path style too
            "access_key_id": placeholder(SECRET_S3_ACCESS),
            "secret_access_key": placeholder(SECRET_S3_SECRET),
        }
        if settings.s3.ca_certificate:
            s3_conf["http_config"] = {"ca_file": S3_CA_FILE}
        common["storage"] = {"s3": s3_conf}
    else:
        common["storage"] = {"filesystem": {"chunks_directory": f"{LOKI_DIR}/chunks",
                                            "rules_directory": f"{LOKI_DIR}/rules"}}
    config: dict[str, Any] = {
        "auth_enabled": False,  # one tenant; who may reach 3100 is the firewall's decision
        "server": {"http_listen_address": mon_ip, "http_listen_port": n.LOKI_PORT,
                   "grpc_listen_address": "127.0.0.1", "grpc_listen_port": LOKI_GRPC_PORT,
                   "log_level": "warn"},
        "common": common,
        "schema_config": {"configs": [{
            "from": SCHEMA_FROM, "store": "tsdb", "object_store": store, "schema": "v13",
            "index": {"prefix": "index_", "period": "24h"},
        }]},
        "limits_config": {"retention_period": f"{24 * m.loki_retention_days}h"},
        "compactor": {"working_directory": f"{LOKI_DIR}/compactor", "retention_enabled": True,
                      "delete_request_store": store},
        "analytics": {"reporting_enabled": False},
    }
    if s3:
        config["storage_config"] = {"object_prefix": s3_prefix(settings)}
    return HEADER + yaml.safe_dump(config, sort_keys=False)


# --- Alloy ---------------------------------------------------------------------------------------

def _value(v: object) -> str:
    """An Alloy expression for a plain value: strings JSON-quoted (Alloy's escapes are JSON's),
    lists and string maps, or a reference given as Ref."""
    if isinstance(v, Ref):
        return v.expr
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no Alloy form for {v!r}")


class Ref:
    """A reference to another component's export (`loki.write.local.receiver`)."""

    def __init__(self, expr: str) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+", expr):
            raise ValueError(f"not an Alloy reference: {expr}")
        self.expr = expr


Block = tuple[str, str | None, Sequence[tuple[str, object]]]  # name, label, body (attributes and Blocks)


def _block(name: str, label: str | None, body: Sequence[tuple[str, object]], indent: int = 0) -> list[str]:
    pad = "  " * indent
    head = f"{pad}{name}" + (f" {json.dumps(label)}" if label is not None else "") + " {"
    lines = [head]
    for key, value in body:
        if isinstance(value, tuple):  # a nested block: (label, body)
            lines += _block(key, value[0], value[1], indent + 1)
        else:
            lines.append(f"{pad}  {key} = {_value(value)}")
    return lines + [pad + "}"]


def alloy_blocks(settings: Settings) -> list[Block]:
    """The pipeline as data: journal sources -> relabel (labels) -> Loki on the private address."""
    mon = n.monitoring_host(settings)
    rules: list[tuple[str, object]] = [
        ("rule", (None, [("source_labels", ["__journal__hostname"]), ("target_label", "host")])),
        ("rule", (None, [("source_labels", ["__journal__systemd_unit"]), ("target_label", "unit")])),
        ("rule", (None, [("source_labels", ["__journal_priority_keyword"]), ("target_label", "level")])),
    ]
    for h in settings.hosts.all():  # the VM's role, as Prometheus labels it (contract.ROLE_LABEL)
        rules.append(("rule", (None, [("source_labels", ["__journal__hostname"]), ("regex", re.escape(h.name)),
                                      ("target_label", ROLE_LABEL), ("replacement", h.role)])))
    relabel = ("loki.relabel", "journal", [("forward_to", []), *rules])
    labels = {"stack": settings.stack}

    def source(label: str, path: str | None) -> Block:
        body: list[tuple[str, object]] = [("path", path)] if path else []
        return ("loki.source.journal", label, [
            *body, ("max_age", "12h"), ("labels", labels),
            ("relabel_rules", Ref("loki.relabel.journal.rules")),
            ("forward_to", [Ref("loki.write.local.receiver")])])

    write = ("loki.write", "local", [
        ("endpoint", (None, [("url", f"http://{mon.private_ip}:{n.LOKI_PORT}/loki/api/v1/push")]))])
    return [relabel, source("received", n.JOURNAL_REMOTE_DIR), source("local", None), write]


def render_alloy_config(settings: Settings) -> str:
    out = [HEADER.replace("#", "//", 1).rstrip("\n")]
    for name, label, body in alloy_blocks(settings):
        out += [""] + _block(name, label, body)
    return "\n".join(out) + "\n"


def render_alloy_defaults(mon_ip: str) -> str:
    """/etc/default/alloy (the package's unit reads CONFIG_FILE and CUSTOM_ARGS from it)."""
    return HEADER + "\n".join([
        'CONFIG_FILE="/etc/alloy/config.alloy"',
        # The UI/metrics listener on the private address, for Prometheus (the package binds loopback).
        f'CUSTOM_ARGS="--server.http.listen-addr={mon_ip}:{n.ALLOY_PORT} --disable-reporting"',
        "RESTART_ON_UPGRADE=true",
        "",
    ])
