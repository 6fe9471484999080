"""The whole program under pulumi.runtime.set_mocks, for every stack file."""

from __future__ import annotations

import pytest

from components.remote import read_bundle
from components.settings.reader import SettingsError
from scripts.program import SECRET_SIG, is_secret, run_program
from tests.unit.helpers import STACKS, CountingMocks, config


@pytest.fixture(scope="module", params=STACKS)
def run(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    stack = request.param
    return stack, run_program(stack, config(stack))


def commands(run_):  # type: ignore[no-untyped-def]
    return [r for r in run_.records if r.type == "command:remote:Command"]


def test_every_host_gets_baseline_then_firewall(run) -> None:  # type: ignore[no-untyped-def]
    stack, r = run
    hosts = set(r.outputs["hosts"])
    by_name = {c.name: c for c in commands(r)}
    for h in hosts:
        base, fw = by_name[f"{h}-baseline"], by_name[f"{h}-firewall"]
        assert base.urn in fw.dependencies
        assert base.parent == fw.parent and base.parent.endswith(f"platform:baseline:HostBaseline::{h}")
        conn = fw.inputs["connection"]["value"]
        assert conn["host"] and conn["user"] == "deploy"
    components = [x for x in r.records if x.type == "platform:baseline:HostBaseline"]
    assert {c.name for c in components} == hosts


def test_ssh_key_is_secret_and_never_in_a_command_line(run) -> None:  # type: ignore[no-untyped-def]
    _, r = run
    for c in commands(r):
        assert is_secret(c.inputs["connection"]), c.name
        assert "placeholder" not in c.inputs["create"]
        assert "placeholder" not in str(c.inputs["triggers"])


def test_rendered_files_reach_the_host_through_stdin(run) -> None:  # type: ignore[no-untyped-def]
    _, r = run
    fw = next(c for c in commands(r) if c.name.endswith("-firewall"))
    bundle = read_bundle(fw.inputs["stdin"])
    assert bundle["step.sh"].startswith("#!/usr/bin/env bash")
    assert "table inet platform {" in bundle["files/platform.nft"]
    assert "SSH_PORT=22" in bundle["files/params.env"]


@pytest.mark.parametrize("mutation", ["typo", "even-etcd", "duplicate-address"])
def test_bad_config_registers_nothing(mutation: str) -> None:
    cfg = config("prod-ha")
    if mutation == "typo":
        cfg["redis"] = {"qorum": 2}
    elif mutation == "even-etcd":
        cfg["hosts"]["postgres"].append({"name": "db-3", "privateIp": "192.0.2.23"})
    else:
        cfg["hosts"]["monitoring"][0]["privateIp"] = "192.0.2.21"
    mocks = CountingMocks()
    with pytest.raises(SettingsError) as e:
        run_program("prod-ha", cfg, mocks=mocks)
    assert mocks.calls == 0
    assert all(p.startswith("platform:") for p in e.value.problems)


def test_plaintext_secret_is_refused() -> None:
    from scripts import program

    cfg = config("mvp")
    orig = program.SECRET_KEYS
    try:
        program.SECRET_KEYS = ()  # type: ignore[assignment]
        with pytest.raises(SettingsError, match="is stored in plain text"):
            run_program("mvp", cfg)
    finally:
        program.SECRET_KEYS = orig  # type: ignore[assignment]


def test_secret_wire_marker_is_the_sdks() -> None:
    assert SECRET_SIG == "4dabf18193072939515e22adb298388d"


def _exposed(value, path="") -> list[str]:  # type: ignore[no-untyped-def]
    """Paths of plain (not secret-wrapped) strings that carry a secret value of the mocks."""
    if is_secret(value):
        return []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _exposed(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _exposed(v, f"{path}[{i}]")]
    if isinstance(value, str) and ("generated-" in value or "placeholder-" in value or "PRIVATE KEY" in value):
        return [path]
    return []


def test_every_secret_input_and_output_is_secret(run) -> None:  # type: ignore[no-untyped-def]
    """Generated passwords, private keys and secret config never travel as plain values."""
    _, r = run
    assert _exposed(r.outputs) == []
    for rec in r.records:
        if rec.type.startswith(("random:", "tls:index/privateKey")):
            continue  # the generators themselves (their results are marked secret by the providers)
        assert _exposed(rec.inputs) == [], rec.name
