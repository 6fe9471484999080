"""The sizing matrix: 1-5 database VMs (default witness, none, the monitoring VM), 1-5 Redis VMs,
1-5 K3s servers with 0-3 agents, for both presets. Each combination either renders a valid
topology (odd etcd membership, a Sentinel majority, every host file passing its checks) or is
refused with a message that names the key and says what to change."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.postgres.names import etcd_members
from components.settings import parse_settings
from components.settings.reader import SettingsError
from scripts.program import run_program
from tests.unit.helpers import config
from tests.unit.hostfiles import broken_files

ADVICE = ("need", "must", "set ", "name ", "at least", "odd", "at most", "use ")


def with_hosts(stack: str, role: str, count: int, net: int, prefix: str) -> dict[str, Any]:
    cfg = copy.deepcopy(config(stack))
    cfg["hosts"][role] = [{"name": f"{prefix}-{i + 1}", "privateIp": f"10.0.{net}.{50 + i}"} for i in range(count)]
    return cfg


def outcome(stack: str, cfg: dict[str, Any], *keys: str) -> Any:
    """Settings when accepted (and then the rendered files must all pass); the problems when
    refused, each of which must name one of `keys` and give advice."""
    try:
        s = parse_settings(cfg, stack)
    except SettingsError as e:
        mine = [p for p in e.problems if p.startswith(tuple(f"platform:{k}" for k in keys))]
        assert mine == e.problems, f"unrelated problems: {e.problems}"
        assert all(any(a in p for a in ADVICE) for p in mine), mine
        return e.problems
    assert broken_files(run_program(stack, cfg)) == []
    return s


@pytest.mark.parametrize("stack", ["mvp", "prod-ha"])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("witness", [None, "none", "mon-1"])
def test_database_vms(stack: str, count: int, witness: str | None) -> None:
    cfg = with_hosts(stack, "postgres", count, 1, "db")
    cfg["postgres"] = {k: v for k, v in (cfg.get("postgres") or {}).items() if k != "etcdWitness"}
    if witness is not None:
        cfg["postgres"]["etcdWitness"] = witness
    got = outcome(stack, cfg, "postgres.etcdWitness", "hosts.postgres")
    minimum = 2 if stack == "prod-ha" else 1
    if count < minimum:
        assert isinstance(got, list) and any("needs at least 2" in p for p in got)
        return
    explicit_even = witness == "mon-1" and count % 2 == 1
    no_third = witness == "none" and count % 2 == 0
    if explicit_even or no_third:
        assert isinstance(got, list), f"{count} DB VMs with witness {witness} should be refused"
        return
    assert not isinstance(got, list), got
    members = etcd_members(got)
    assert len(members) % 2 == 1 and len(members) >= min(count, 3)
    assert (got.postgres.etcd_witness is not None) == (count % 2 == 0)


@pytest.mark.parametrize("stack", ["mvp", "prod-ha"])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_redis_vms(stack: str, count: int) -> None:
    cfg = with_hosts(stack, "redis", count, 2, "redis")
    cfg.pop("redis", None)
    got = outcome(stack, cfg, "hosts.redis")
    if stack == "prod-ha" and count < 3:
        assert isinstance(got, list) and any("needs at least 3" in p for p in got)
        return
    assert not isinstance(got, list), got
    assert got.redis.quorum == count // 2 + 1  # a majority of the Sentinels, by default


@pytest.mark.parametrize("stack", ["mvp", "prod-ha"])
@pytest.mark.parametrize("servers", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("agents", [0, 1, 3])
def test_k3s_nodes(stack: str, servers: int, agents: int) -> None:
    cfg = with_hosts(stack, "k3sServers", servers, 3, "k3s-server")
    cfg["hosts"]["k3sAgents"] = [{"name": f"k3s-agent-{i + 1}", "privateIp": f"10.0.4.{50 + i}"}
                                 for i in range(agents)]
    # The MetalLB pool on the network of these nodes (the stack file's is on another one).
    cfg["k3s"] = {"metallbRange": "10.0.3.200-10.0.3.210", "nodeNetwork": "10.0.0.0/16"}
    got = outcome(stack, cfg, "hosts.k3sServers", "hosts.k3sAgents")
    if servers % 2 == 0:
        assert isinstance(got, list) and any("embedded etcd needs an odd number" in p for p in got)
    elif stack == "prod-ha" and servers < 3:
        assert isinstance(got, list) and any("needs at least 3" in p for p in got)
    elif stack == "prod-ha" and agents == 0:
        # prod-ha taints the servers (k3s.serversRunWorkloads false): no node could run the apps.
        assert isinstance(got, list) and any(p.startswith("platform:hosts.k3sAgents: is empty") for p in got)
    else:
        assert not isinstance(got, list), got
        assert len(got.hosts["k3sServers"]) == servers and len(got.hosts["k3sAgents"]) == agents
