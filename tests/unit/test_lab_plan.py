"""The lab's engine semantics (scripts/lablib/plan.py, apply.py, state.py) without the lab: the real
program under the lab's mock, with SSH replaced by a recorder. What `pulumi up` would run is what
runs: nothing when inputs are equal, a replace for changed triggers, an update for other inputs,
deletes for what is no longer registered, retries for what failed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pulumi.output import Unknown

from scripts.lablib import apply as A
from scripts.lablib import labconfig as C
from scripts.lablib import plan as P
from scripts.lablib import report as R
from scripts.lablib.state import LabState
from scripts.program import PLACEHOLDER_SECRETS, SECRET_SIG, SECRET_VALUE, run_program, stack_config
from tests.unit.helpers import config

CFG = stack_config("lab")
_DRY = run_program("lab", config("lab"))
STEPS = sum(1 for r in _DRY.records if r.type == "command:remote:Command")  # the lab stack's steps
RESOURCES = len(_DRY.records)  # every registration, component resources included


def secret(v: Any) -> dict[str, Any]:
    return {SECRET_SIG: SECRET_VALUE, "value": v}


class FakeSSH(A.LabMocks):
    """The lab's mock with SSH and S3 recorded instead of performed."""

    calls: ClassVar[list[tuple[str, str]]] = []  # (step name, command)
    fail: ClassVar[set[str]] = set()

    def _ssh(self, name: str, host_name: str, conn: Mapping[str, Any], command: str, stdin: str,
             secret_values: list[str], started: float) -> subprocess.CompletedProcess[str]:
        with self._lock:
            FakeSSH.calls.append((name, command))
        if name in FakeSSH.fail:
            return subprocess.CompletedProcess([], 1, "", "boom\n")
        return subprocess.CompletedProcess([], 0, "platform-step: unchanged\n", "")

    def _ensure_bucket(self, bucket: str) -> None:
        pass

    def _delete_bucket(self, bucket: str, force: bool) -> None:
        pass

    def _put_policy(self, typ: str, inputs: Mapping[str, Any]) -> None:
        pass  # tested against moto in test_storage.py

    def _delete_policy(self, typ: str, bucket: str) -> None:
        pass


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[dict[str, Any]]:
    hosts = {h["privateIp"]: h["name"] for role in CFG["hosts"].values() for h in role}
    target = C.Target(hosts, {n: f"machine-{n}" for n in hosts.values()}, "s3-1", ssh_key="lab-key")
    FakeSSH.calls.clear()
    FakeSSH.fail.clear()
    yield {"state": tmp_path / "state.json", "target": target}


def up(lab: dict[str, Any], overlay: Mapping[str, Any] | None = None, **kw: Any) -> R.ApplyReport:
    FakeSSH.calls.clear()
    cfg = C.apply_overlay(CFG, overlay or {})
    return A.run_apply("lab", cfg, dict(PLACEHOLDER_SECRETS), LabState(lab["state"]), lab["target"],
                       overlay=overlay, mocks_cls=FakeSSH, **kw)


def preview(lab: dict[str, Any], overlay: Mapping[str, Any] | None = None) -> R.Plan:
    cfg = C.apply_overlay(CFG, overlay or {})
    return A.run_plan("lab", cfg, dict(PLACEHOLDER_SECRETS), LabState(lab["state"]), lab["target"],
                      mocks_cls=FakeSSH).plan


def ran() -> list[str]:
    return sorted(name for name, _ in FakeSSH.calls)


# --- the diff rules ---------------------------------------------------------------------------


def test_diff_rules_follow_the_providers_schemas() -> None:
    rec = {"custom": True, "inputs": {"create": "x", "stdin": P.stored(secret("bundle")), "triggers": [{"a": "1"}],
                                      "connection": P.stored(secret({"host": "h", "privateKey": "k"}))}}
    same = {"create": "x", "stdin": secret("bundle"), "triggers": [{"a": "1"}],
            "connection": secret({"host": "h", "privateKey": "k"})}
    roc = ("triggers[*]",)
    assert P.decide(P.COMMAND, rec, same, roc).op == "same"
    assert P.decide(P.COMMAND, None, same, roc).op == "create"
    d = P.decide(P.COMMAND, rec, {**same, "stdin": secret("other")}, roc)
    assert (d.op, d.paths, d.files) == ("update", ["stdin"], ["secret values (stdin)"])
    d = P.decide(P.COMMAND, rec, {**same, "triggers": [{"a": "2"}]}, roc)
    assert (d.op, d.paths) == ("replace", ["triggers[0].a"])
    # pulumi-command's own schema marks triggers replace-on-change, whatever the registration says.
    assert P.decide(P.COMMAND, rec, {**same, "triggers": [{"a": "1"}, {}]}, ()).op == "replace"
    assert P.decide(P.COMMAND, rec, {**same, "connection": secret({"host": "h2", "privateKey": "k"})}, roc).op \
        == "update"
    assert P.decide(P.COMMAND, rec, same, roc, force_replace=True).op == "replace"
    assert P.decide(P.COMMAND, rec, same, roc, gone="host recreated").op == "create"
    # A preview's unknown counts as a change (shown as the engine shows it).
    assert P.decide(P.COMMAND, rec, {**same, "stdin": secret(Unknown())}, roc).op == "update"
    assert P.decide(P.COMMAND, rec, {**same, "triggers": [Unknown()]}, roc).op == "replace"
    rnd = {"custom": True, "inputs": {"length": 32.0, "special": False}}
    assert P.decide("random:index/randomPassword:RandomPassword", rnd, {"length": 32, "special": False}).op == "same"
    assert P.decide("random:index/randomPassword:RandomPassword", rnd, {"length": 33, "special": False}).op \
        == "replace"
    bucket = {"custom": True, "inputs": {"bucket": "b", "forceDestroy": False}}
    assert P.decide("aws:s3/bucket:Bucket", bucket, {"bucket": "c", "forceDestroy": False}).op == "replace"
    assert P.decide("aws:s3/bucket:Bucket", bucket, {"bucket": "b", "forceDestroy": True}).op == "update"


def test_recorded_secrets_are_hashes() -> None:
    rec = P.stored({"a": secret("pw"), "b": [secret({"k": "v"})], "c": "plain"})
    assert "pw" not in json.dumps(rec) and rec["c"] == "plain"
    assert rec["a"] == {P.SECRET_HASH: P.value_hash("pw")}
    assert P.changed_paths(rec, {"a": secret("pw"), "b": [secret({"k": "v"})], "c": "plain"}) == []
    assert P.changed_paths(rec, {"a": secret("pw2"), "b": [secret({"k": "v"})], "c": "plain"}) == ["a"]
    with pytest.raises(ValueError):
        P.stored({"x": Unknown()})


# --- the program under the engine's semantics -------------------------------------------------


def test_second_up_runs_nothing_and_a_change_runs_only_its_steps(lab: dict[str, Any]) -> None:
    first = up(lab)
    assert first.error is None and len(first.steps) == STEPS and first.counts()["created"] == RESOURCES
    second = up(lab)
    assert second.error is None and second.steps == [] and FakeSSH.calls == []
    assert second.counts() == {"same": RESOURCES, "created": 0, "updated": 0, "replaced": 0, "deleted": 0}

    change = {"postgres.maxConnections": 120}
    plan = preview(lab, change)
    want = {"db-1-postgres": "replace", "db-2-postgres": "replace",
            "db-1-pgbouncer": "replace", "db-2-pgbouncer": "replace"}
    assert plan.changes() == want
    assert plan.files()["db-1-postgres"] == ["files/config.yml", "files/dcs.yml"]
    applied = up(lab, change)
    assert applied.error is None and ran() == sorted(want)
    assert applied.counts()["replaced"] == 4 and applied.counts()["same"] == RESOURCES - len(want)
    assert LabState(lab["state"]).data["config"] == change  # what verify and the drills read
    assert up(lab, change).steps == []
    back = up(lab)
    assert ran() == sorted(want) and back.plan.changes() == want


def test_added_database_creates_its_password_and_removing_it_deletes_the_record(lab: dict[str, Any]) -> None:
    up(lab)
    change = {"postgres.extraDatabases": ["poolcheck", "reporting"]}  # poolcheck: Pulumi.lab.yaml
    plan = preview(lab, change)
    assert plan.changes() == {"platform-pg-app-reporting": "create", "db-1-databases": "replace",
                              "db-1-pgbouncer": "replace", "db-2-pgbouncer": "replace"}
    # In a preview the new password is unknown, and so is the bundle that carries it.
    databases = next(e for e in plan.entries if e.name == "db-1-databases")
    assert "stdin" in databases.paths and "secrets.txt" in databases.files
    up(lab, change)
    back = up(lab)
    assert back.error is None
    assert back.counts()["deleted"] == 1 and ran() == ["db-1-databases", "db-1-pgbouncer", "db-2-pgbouncer"]
    assert not any("app-reporting" in urn for urn in LabState(lab["state"]).resources)


def test_failed_step_records_nothing_and_the_next_up_retries_it(lab: dict[str, Any]) -> None:
    up(lab)
    before = LabState(lab["state"]).resources
    FakeSSH.fail.add("redis-2-redis")  # runs after redis-1-redis (rolling)
    failed = up(lab, {"redis.maxmemoryMb": 200})
    assert failed.error and "redis-2-redis" in failed.error
    after = LabState(lab["state"]).resources
    urn = next(u for u in after if u.endswith("::redis-2-redis"))
    assert after[urn]["inputs"] == before[urn]["inputs"] and after[urn]["at"] == before[urn]["at"]
    assert LabState(lab["state"]).data.get("config") == {}  # outputs and config of the last success
    FakeSSH.fail.clear()
    retry = up(lab, {"redis.maxmemoryMb": 200})
    assert retry.error is None and ran() == ["redis-2-redis"]  # redis-1-redis was recorded


def test_recorded_delete_commands_run_dependents_first(lab: dict[str, Any]) -> None:
    up(lab)
    state = LabState(lab["state"])
    base = {"type": P.COMMAND, "custom": True, "host": "db-1", "address": "198.18.0.11", "user": "deploy",
            "port": 22, "inputs": {"stdin": "", "create": "true"}, "outputs": {}}
    state.put("urn:old-a", {**base, "name": "old-a", "delete": "echo delete a", "dependencies": []})
    state.put("urn:old-b", {**base, "name": "old-b", "delete": "echo delete b", "dependencies": ["urn:old-a"]})
    plan = preview(lab)
    assert plan.changes() == {"old-b": "delete", "old-a": "delete"}
    done = up(lab)
    assert done.error is None and FakeSSH.calls == [("old-b", "echo delete b"), ("old-a", "echo delete a")]
    assert "urn:old-a" not in LabState(lab["state"]).resources


def test_state_keeps_no_secret_input(lab: dict[str, Any]) -> None:
    up(lab)
    text = lab["state"].read_text()
    assert oct(lab["state"].stat().st_mode & 0o777) == "0o600"
    for value in PLACEHOLDER_SECRETS.values():
        assert value not in text
    data = json.loads(text)["resources"]
    pg = next(r for r in data.values() if r["name"] == "db-1-postgres")
    assert set(pg["inputs"]["stdin"]) == {P.SECRET_HASH} and set(pg["inputs"]["connection"]) == {P.SECRET_HASH}
    pw = next(r for r in data.values() if r["name"] == "platform-pg-superuser")
    assert len(pw["outputs"]["result"]) == 32  # a generated value: kept, so a later up reuses it


def test_steps_of_a_recreated_host_run_again(lab: dict[str, Any]) -> None:
    up(lab)
    lab["target"].host_ids["redis-3"] = "machine-redis-3-new"
    plan = preview(lab)
    assert plan.changes() == {s: "create" for s in
                              ("redis-3-baseline", "redis-3-firewall", "redis-3-journal-upload", "redis-3-sentinel",
                               "redis-3-redis-exporters")}


def test_rerun_all_and_replace(lab: dict[str, Any]) -> None:
    up(lab)
    rerun = up(lab, rerun_all=True)
    assert rerun.error is None and len(rerun.steps) == STEPS and rerun.counts()["same"] == RESOURCES
    forced = up(lab, replace=["mon-1-etcd"])
    assert ran() == ["mon-1-etcd"] and forced.plan.changes() == {"mon-1-etcd": "replace"}
    assert up(lab, replace=["no-such-step"]).error


def test_legacy_state_values_are_adopted(lab: dict[str, Any]) -> None:
    inputs = {"length": 32.0, "special": False}
    legacy = {"random/platform-pg-superuser": {"fingerprint": A._fingerprint(inputs), "value": "x" * 32},
              "outputs": {"fingerprint": "", "value": {}}}
    lab["state"].write_text(json.dumps(legacy))
    assert up(lab).error is None
    rec = next(r for r in LabState(lab["state"]).resources.values() if r["name"] == "platform-pg-superuser")
    assert rec["outputs"]["result"] == "x" * 32


def test_set_parses_like_config_set_path() -> None:
    ov = C.parse_sets(["postgres.maxConnections=120", "postgres.poolModeOverrides.odoo=transaction",
                       'ssh.adminSources=["198.18.0.1/32"]'])
    assert ov == {"postgres.maxConnections": 120, "postgres.poolModeOverrides.odoo": "transaction",
                  "ssh.adminSources": ["198.18.0.1/32"]}
    cfg = C.apply_overlay(CFG, ov)
    assert cfg["postgres"]["poolModeOverrides"] == {"poolcheck": "transaction", "odoo": "transaction"}
    assert cfg["postgres"]["etcdWitness"] == "mon-1"
    assert CFG["postgres"]["poolModeOverrides"] == {"poolcheck": "transaction"}  # the file is not changed
    for bad in ("hosts.postgres=[]", "sshPrivateKey=x", "s3.caCertificate=x", "novalue", "a..b=1", "x=[1,"):
        with pytest.raises(ValueError):
            C.parse_sets([bad])
