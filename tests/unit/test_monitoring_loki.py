"""Loki and Alloy (monitoring.loki.enabled; checked statically: neither installs on this machine).
Every key of the rendered Loki config exists in Loki's configuration reference, and every block,
argument and reference of the Alloy config in Alloy's component reference (both extracted from the
upstream docs by scripts/upstream_schemas.py into tests/unit/data). Then the step, its secrets, the
firewall and scrape jobs, and the verify line's parsing of Loki's answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.contract import ROLE_LABEL
from components.monitoring import checks, plan
from components.monitoring import contract as mon_contract
from components.monitoring import names as n
from components.monitoring.render import loki
from components.plan import ConfigSecret, placeholder
from tests.unit import alloy_syntax
from tests.unit.helpers import settings

DATA = Path(__file__).parent / "data"
LOKI_KEYS = json.loads((DATA / "loki-config-keys.json").read_text())["blocks"]
ALLOY = json.loads((DATA / "alloy-components.json").read_text())["components"]


def unknown_loki_keys(value: Any, tree: dict[str, Any], path: str = "") -> list[str]:
    """Key paths of `value` that Loki's reference does not define under `tree`."""
    bad: list[str] = []
    for key, sub in value.items():
        where = f"{path}.{key}" if path else key
        if key not in tree:
            bad.append(where)
            continue
        spec = tree[key]
        if spec is None or not isinstance(sub, dict | list):
            continue
        if "$ref" in spec:
            child = LOKI_KEYS[spec["$ref"]]
            for item in (sub if spec.get("list") else [sub]):
                bad += unknown_loki_keys(item, child, where)
        else:
            bad += unknown_loki_keys(sub, spec, where)
    return bad


def loki_config(**loki_keys: Any) -> dict[str, Any]:
    s = settings("prod-ha", monitoring={"loki": {"enabled": True, **loki_keys}})
    return yaml.safe_load(loki.render_loki_config(s, "10.0.3.41"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("storage", ["filesystem", "s3"])
def test_every_loki_key_is_in_the_upstream_reference(storage: str) -> None:
    cfg = loki_config(storage=storage)
    assert unknown_loki_keys(cfg, LOKI_KEYS["root"]) == []
    # The walk does find what Loki would refuse (a typo at any depth, a key in the wrong block).
    cfg["common"]["ring"]["kvstore"]["stor"] = "inmemory"
    cfg["schema_config"]["configs"][0]["peroid"] = "24h"
    cfg["server"]["retention_period"] = "1h"
    assert unknown_loki_keys(cfg, LOKI_KEYS["root"]) == [
        "server.retention_period", "common.ring.kvstore.stor", "schema_config.configs.peroid"]


def test_loki_filesystem_storage_retention_and_listeners() -> None:
    cfg = loki_config(storage="filesystem", retentionDays=14)
    assert cfg["server"]["http_listen_address"] == "10.0.3.41" and cfg["server"]["http_listen_port"] == n.LOKI_PORT
    assert cfg["server"]["grpc_listen_address"] == "127.0.0.1"
    assert cfg["auth_enabled"] is False and cfg["analytics"]["reporting_enabled"] is False
    assert cfg["common"]["storage"] == {"filesystem": {"chunks_directory": "/var/lib/loki/chunks",
                                                       "rules_directory": "/var/lib/loki/rules"}}
    period = cfg["schema_config"]["configs"]
    assert len(period) == 1 and period[0]["store"] == "tsdb" and period[0]["schema"] == "v13"
    assert period[0]["object_store"] == "filesystem"
    # Retention is enforced only by the compactor, which needs a delete-request store.
    assert cfg["limits_config"]["retention_period"] == "336h"
    assert cfg["compactor"]["retention_enabled"] is True and cfg["compactor"]["delete_request_store"] == "filesystem"
    assert "storage_config" not in cfg


def test_loki_s3_storage_uses_the_backups_bucket_with_placeholders_only() -> None:
    s = settings("prod-ha", monitoring={"loki": {"enabled": True, "storage": "s3"}},
                 s3={"endpoint": "https://s3.example.net:9000", "caCertificate": "-----BEGIN CERTIFICATE-----"})
    text = loki.render_loki_config(s, "10.0.3.41")
    cfg = yaml.safe_load(text)
    s3 = cfg["common"]["storage"]["s3"]
    assert s3["endpoint"] == "s3.example.net:9000" and s3["insecure"] is False and s3["s3forcepathstyle"] is True
    assert s3["bucketnames"] == s.s3.buckets.backups
    assert s3["access_key_id"] == placeholder("s3_access_key")
    assert s3["secret_access_key"] == placeholder("s3_secret_key")
    assert s3["http_config"] == {"ca_file": loki.S3_CA_FILE}
    assert cfg["storage_config"]["object_prefix"] == f"loki/{s.stack}/"
    assert cfg["schema_config"]["configs"][0]["object_store"] == "s3"
    assert cfg["compactor"]["delete_request_store"] == "s3"
    # The contract names the prefix in the bucket (issue "backups as one story" reads it).
    uses = mon_contract.contract(s).buckets
    assert [(u.bucket, u.prefix) for u in uses] == [("backups", "loki/prod-ha/")]


def _blocks(text: str) -> list[alloy_syntax.Block]:
    return alloy_syntax.parse(text)


def _unknown_alloy(blocks: list[alloy_syntax.Block]) -> list[str]:
    bad: list[str] = []
    defined = {f"{b.name}.{b.label}" for b in blocks}
    for b in blocks:
        spec = ALLOY.get(b.name)
        if spec is None:
            bad.append(b.name)
            continue
        bad += [f"{b.name}.{a}" for a in b.attributes if a not in spec["arguments"]]
        for inner in b.blocks:
            allowed = spec["blocks"].get(inner.name)
            if allowed is None:
                bad.append(f"{b.name} > {inner.name}")
            else:
                bad += [f"{b.name} > {inner.name}.{a}" for a in inner.attributes if a not in allowed]
        for value in b.attributes.values():
            for ref in value if isinstance(value, list) else [value]:
                if isinstance(ref, alloy_syntax.Reference):
                    comp, _, export = ref.path.rpartition(".")
                    kind = comp.rsplit(".", 1)[0]
                    if comp not in defined or export not in ALLOY.get(kind, {}).get("exports", []):
                        bad.append(f"reference {ref.path}")
    return bad


def test_alloy_config_parses_and_uses_only_documented_components_and_arguments() -> None:
    s = settings("prod-ha")
    blocks = _blocks(loki.render_alloy_config(s))
    assert [(b.name, b.label) for b in blocks] == [
        ("loki.relabel", "journal"), ("loki.source.journal", "received"), ("loki.source.journal", "local"),
        ("loki.write", "local")]
    assert _unknown_alloy(blocks) == []
    # The check finds an unknown argument, block and a dangling reference.
    blocks[1].attributes["paths"] = "/x"
    blocks[3].blocks.append(alloy_syntax.Block("endpiont", None))
    blocks[2].attributes["forward_to"] = [alloy_syntax.Reference("loki.write.remote.receiver")]
    assert _unknown_alloy(blocks) == ["loki.source.journal.paths", "reference loki.write.remote.receiver",
                                      "loki.write > endpiont"]
    with pytest.raises(SyntaxError):
        alloy_syntax.parse('loki.write "x" { endpoint { url = "a" }')


def test_alloy_reads_the_received_journals_and_labels_like_prometheus() -> None:
    s = settings("prod-ha")
    blocks = {(b.name, b.label): b for b in _blocks(loki.render_alloy_config(s))}
    received = blocks[("loki.source.journal", "received")]
    assert received.attributes["path"] == n.JOURNAL_REMOTE_DIR
    assert received.attributes["labels"] == {"stack": s.stack}
    assert "path" not in blocks[("loki.source.journal", "local")].attributes  # this VM's own journal
    rules = [r.attributes for r in blocks[("loki.relabel", "journal")].blocks]
    assert {"source_labels": ["__journal__hostname"], "target_label": "host"} in rules
    roles = {r["regex"].replace("\\", ""): r["replacement"] for r in rules if r.get("target_label") == ROLE_LABEL}
    assert roles == {h.name: h.role for h in s.hosts.all()}
    endpoint = blocks[("loki.write", "local")].blocks[0]
    mon = n.monitoring_host(s)
    assert endpoint.attributes["url"] == f"http://{mon.private_ip}:{n.LOKI_PORT}/loki/api/v1/push"
    assert f"--server.http.listen-addr={mon.private_ip}:{n.ALLOY_PORT}" in loki.render_alloy_defaults(mon.private_ip)


def test_the_loki_step_exists_only_where_enabled_and_carries_s3_keys_only_for_s3() -> None:
    for enabled in (True, False):
        s = settings("prod-ha", monitoring={"loki": {"enabled": enabled}})
        names = [st.name for st in plan.plan(s, []).steps]
        assert ("mon-1-loki" in names) is enabled, names
    s = settings("prod-ha", monitoring={"loki": {"enabled": True}})
    p = plan.plan(s, [])
    step = p.step("mon-1-loki")
    assert step.secrets == {} and step.after == ("mon-1-journal-remote",)
    assert {"grafana-apt.sh", "loki.yml", "config.alloy", "alloy.default"} <= set(step.files)
    assert "mon-1-loki" in p.step("mon-1-grafana").after
    s3 = settings("prod-ha", monitoring={"loki": {"enabled": True, "storage": "s3"}})
    step = plan.plan(s3, []).step("mon-1-loki")
    assert step.secrets == {"s3_access_key": ConfigSecret("s3AccessKey"), "s3_secret_key": ConfigSecret("s3SecretKey")}
    assert "bucket:backups" in step.after


def test_firewall_and_scrape_jobs_follow_loki_enabled() -> None:
    for enabled in (True, False):
        s = settings("prod-ha", monitoring={"loki": {"enabled": enabled}})
        c = mon_contract.contract(s)
        ports = {p.name: p for p in c.ports}
        jobs = {j.job for j in c.scrape_jobs}
        assert ({"loki", "alloy"} <= set(ports)) is enabled and ({"loki", "alloy"} <= jobs) is enabled
        if enabled:
            assert (ports["loki"].port, ports["alloy"].port) == (n.LOKI_PORT, n.ALLOY_PORT)
            assert ports["loki"].on == ("monitoring",) and ports["loki"].sources == ("admin", "monitoring")


def test_the_verify_line_reads_hosts_from_lokis_answer() -> None:
    body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"host": "db-1"}, "value": [1700000000.0, "42"]},
        {"metric": {"host": "mon-1"}, "value": [1700000000.0, "7"]}]}})
    assert checks.loki_hosts_seen(body) == {"db-1": 42, "mon-1": 7}
    assert checks.loki_hosts_seen("not json") == {}
