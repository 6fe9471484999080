"""Every validation rule, with a config that breaks it; and the example stacks pass."""

from __future__ import annotations

import pytest

from components.postgres.names import etcd_members
from components.settings import parse_settings
from tests.unit.helpers import STACKS, config, problems, settings


@pytest.mark.parametrize("stack", STACKS)
def test_example_stacks_are_valid(stack: str) -> None:
    s = settings(stack)
    assert s.stack == stack
    assert s.hosts["postgres"] and s.hosts["redis"] and s.hosts["monitoring"]


def test_presets_choose_sizing_and_keys_override() -> None:
    mvp, ha = settings("mvp"), settings("prod-ha")
    assert (mvp.postgres.synchronous, ha.postgres.synchronous) == (False, True)
    assert (mvp.redis.quorum, ha.redis.quorum) == (1, 2)
    assert ha.hosts["postgres"][0].memory_mb == 8192
    over = settings("prod-ha", postgres={"etcdWitness": "mon-1", "synchronous": False})
    assert over.postgres.synchronous is False


def test_prod_ha_has_three_etcd_members_with_witness() -> None:
    s = settings("prod-ha")
    assert [h.name for h in etcd_members(s)] == ["db-1", "db-2", "mon-1"]
    assert [h.name for h in etcd_members(settings("mvp"))] == ["db-1"]


def test_unknown_top_level_key() -> None:
    cfg = config("prod-ha")
    cfg["postgress"] = {}
    (p,) = problems(cfg)
    assert p.startswith("platform:postgress: unknown key 'postgress'; allowed keys:") and "postgres" in p


def test_unknown_nested_key_typo() -> None:
    cfg = config("prod-ha", postgres={"etcdWitness": "mon-1", "synchronus": True})
    (p,) = problems(cfg)
    assert p.startswith("platform:postgres.synchronus: unknown key 'synchronus'")


def test_unknown_host_field() -> None:
    cfg = config("mvp")
    cfg["hosts"]["redis"][0]["privateIP"] = "192.0.2.99"
    ps = problems(cfg, "mvp")
    assert any(p.startswith("platform:hosts.redis[0].privateIP: unknown key") for p in ps)


def test_unknown_preset() -> None:
    ps = problems(config("mvp", preset="large"), "mvp")
    assert "platform:preset: got 'large'; allowed: mvp, prod-ha" in ps


def test_missing_host_list_for_enabled_role() -> None:
    cfg = config("mvp")
    del cfg["hosts"]["redis"]
    ps = problems(cfg, "mvp")
    assert "platform:hosts.redis: needs at least one host" in ps
    cfg = config("lab")
    del cfg["hosts"]["edge"]
    assert "platform:hosts.edge: needs at least one host (router.placement is 'vms')" in problems(cfg, "lab")
    cfg = config("mvp")
    del cfg["hosts"]["k3sServers"]
    assert "platform:hosts.k3sServers: needs at least one host (k3s.enabled is true)" in problems(cfg, "mvp")


def test_duplicate_host_names_and_addresses() -> None:
    cfg = config("prod-ha")
    cfg["hosts"]["redis"][1]["name"] = "redis-1"
    cfg["hosts"]["redis"][2]["privateIp"] = "192.0.2.21"
    ps = problems(cfg)
    assert "platform:hosts.redis[1].name: duplicate host name 'redis-1' (also hosts.redis[0])" in ps
    assert ("platform:hosts.redis[2].privateIp: duplicate address 192.0.2.21 "
            "(also hosts.postgres[0].privateIp)") in ps


def test_invalid_ip_addresses() -> None:
    cfg = config("mvp")
    cfg["hosts"]["postgres"][0]["privateIp"] = "192.0.2.300"
    cfg["ssh"]["adminSources"] = ["203.0.113.1/24"]
    ps = problems(cfg, "mvp")
    assert any(p.startswith("platform:hosts.postgres[0].privateIp: '192.0.2.300' is not an IPv4 unicast address")
               for p in ps)
    assert any(p.startswith("platform:ssh.adminSources[0]: '203.0.113.1/24' is not a valid") for p in ps)


def test_even_etcd_member_count() -> None:
    cfg = config("mvp", postgres={"etcdWitness": "mon-1"})
    ps = problems(cfg, "mvp")
    assert any(p.startswith("platform:postgres.etcdWitness: gives 2 etcd members (1 PostgreSQL VMs + witness "
                            "mon-1); etcd needs an odd") and p.endswith("set postgres.etcdWitness to 'none'")
               for p in ps)


def test_even_k3s_server_count() -> None:
    cfg = config("prod-ha")
    cfg["hosts"]["k3sServers"] = cfg["hosts"]["k3sServers"][:2] + cfg["hosts"]["k3sServers"][2:2]
    cfg["preset"] = "mvp"
    cfg["redis"] = {"quorum": 2}
    ps = problems(cfg)
    assert any(p.startswith("platform:hosts.k3sServers: has 2 servers; embedded etcd needs an odd")
               for p in ps)


def test_ha_postgres_without_third_etcd_member() -> None:
    cfg = config("prod-ha")
    cfg["hosts"]["monitoring"] = []
    cfg.pop("postgres")
    ps = problems(cfg)
    assert any(p.startswith("platform:postgres.etcdWitness: 2 PostgreSQL VMs need a third etcd member")
               for p in ps)


def test_witness_must_exist_and_not_be_a_database_vm() -> None:
    ps = problems(config("prod-ha", postgres={"etcdWitness": "nope"}))
    assert any(p.startswith("platform:postgres.etcdWitness: 'nope' is not a host of the inventory; allowed:")
               for p in ps)
    ps = problems(config("prod-ha", postgres={"etcdWitness": "db-2"}))
    assert any("is a PostgreSQL VM" in p for p in ps)


def test_patroni_timing_profile_rule() -> None:
    ps = problems(config("prod-ha", postgres={"etcdWitness": "mon-1", "ttl": 20, "retryTimeout": 7}))
    assert any(p.startswith("platform:postgres.ttl: loopWait (10) + 2 * retryTimeout (7) must not exceed")
               for p in ps)
    ps = problems(config("prod-ha", postgres={"etcdWitness": "mon-1", "ttl": 10}))
    assert "platform:postgres.ttl: got 10; allowed: 20 to 300" in ps


def test_scram_iterations_range() -> None:
    assert settings("prod-ha").postgres.scram_iterations == 4096
    assert settings("prod-ha", postgres={"etcdWitness": "mon-1", "scramIterations": 256}).postgres.scram_iterations \
        == 256
    ps = problems(config("prod-ha", postgres={"etcdWitness": "mon-1", "scramIterations": 8}))
    assert "platform:postgres.scramIterations: got 8; allowed: 16 to 100000" in ps


def test_every_problem_is_reported_at_once() -> None:
    cfg = config("prod-ha", preset="huge", domain="not a domain", colour="blue")
    cfg["hosts"]["redis"][0]["privateIp"] = "x"
    assert len(problems(cfg)) >= 4


def test_secrets_are_required() -> None:
    cfg = config("mvp")
    del cfg["s3SecretKey"]
    assert ("platform:s3SecretKey: is required; set it with "
            "`pulumi config set --secret platform:s3SecretKey`") in problems(cfg, "mvp")


def test_redis_quorum_must_be_a_majority() -> None:
    ps = problems(config("prod-ha", redis={"quorum": 1}))
    assert any(p.startswith("platform:redis.quorum: is 1; with 3 Sentinels it must be a majority") for p in ps)
    ps = problems(config("prod-ha", redis={"quorum": 4}))
    assert any("only 3 Sentinels" in p for p in ps)


def test_prod_ha_minimum_host_counts() -> None:
    cfg = config("prod-ha")
    cfg["hosts"]["redis"] = cfg["hosts"]["redis"][:1]
    cfg["redis"] = {"quorum": 1}
    ps = problems(cfg)
    assert "platform:hosts.redis: has 1 host(s); this preset needs at least 3" in ps


def test_apps_need_k3s_and_mautic_needs_mariadb() -> None:
    ps = problems(config("lab", apps={"odoo": {"enabled": True}}), "lab")
    assert "platform:apps.odoo.enabled: is true but k3s.enabled is false; the apps run only in K3s" in ps
    ps = problems(config("mvp", mariadb={"enabled": False}), "mvp")
    assert any(p.startswith("platform:mariadb.enabled: is false but apps.mautic is enabled") for p in ps)


def test_bad_scalar_types() -> None:
    ps = problems(config("prod-ha", postgres={"etcdWitness": "mon-1", "ttl": "soon", "synchronous": "yes"}))
    assert "platform:postgres.ttl: must be an integer from 20 to 300, got 'soon'" in ps
    assert "platform:postgres.synchronous: must be true or false, got 'yes'" in ps


def test_string_scalars_from_pulumi_config_are_accepted() -> None:
    s = parse_settings(config("prod-ha", postgres={"etcdWitness": "mon-1", "ttl": "30"}), "prod-ha")
    assert s.postgres.ttl == 30


def test_s3_endpoint_must_be_https() -> None:
    ps = problems(config("mvp", s3={"endpoint": "http://s3.example.com"}), "mvp")
    assert any(p.startswith("platform:s3.endpoint: got 'http://s3.example.com'; expected https://HOST[:PORT] "
                            "without a path") for p in ps)


@pytest.mark.parametrize(("schedule", "why"), [
    ("0 0 1 * 1", "set either day-of-month or day-of-week, not both"),
    ("0 0 * * */2", "day-of-week steps are not supported"),
    ("0 25 * * *", "hour '25' is not a number in 0-23"),
])
def test_redis_backup_schedule_must_translate_to_a_systemd_timer(schedule: str, why: str) -> None:
    ps = problems(config("prod-ha", redis={"backup": {"schedule": schedule}}))
    assert ps == [f"platform:redis.backup.schedule: got {schedule!r}: {why}"]
    assert settings("prod-ha", redis={"backup": {"schedule": "15 */4 * * *"}}).redis.backup_schedule == "15 */4 * * *"


def test_etcd_timing_is_validated_against_etcd_and_patroni() -> None:
    ok = settings("prod-ha", postgres={"etcdWitness": "mon-1", "etcdHeartbeatMs": 200, "etcdElectionTimeoutMs": 2000})
    assert (ok.postgres.etcd_heartbeat_ms, ok.postgres.etcd_election_timeout_ms) == (200, 2000)
    assert settings("prod-ha").postgres.etcd_heartbeat_ms == 100
    ps = problems(config("prod-ha", postgres={"etcdWitness": "mon-1", "etcdHeartbeatMs": 300}))
    assert any(p.startswith("platform:postgres.etcdElectionTimeoutMs: 1000 is less than 5 x") for p in ps), ps
    ps = problems(config("prod-ha", postgres={"etcdWitness": "mon-1", "etcdElectionTimeoutMs": 3000}))
    assert any("must fit in Patroni's retryTimeout (5 s)" in p for p in ps), ps
