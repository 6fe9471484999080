"""Bad stack configs found by trying them as a new user would: each is refused by key, before any
resource is registered (or, for the sizing defaults, now renders). One regression test per case
of issue 11; every one of them failed on the code before the fix."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pytest

from components.settings import parse_settings
from components.settings.load import StackConfigError
from scripts.program import PLACEHOLDER_SECRETS, run_program
from tests.unit.helpers import CountingMocks, config, problems


def refused(cfg: dict[str, Any], key: str, fragment: str = "", stack: str = "prod-ha") -> list[str]:
    """The config is refused with a problem naming `key` (containing `fragment`), and the program
    registers nothing for it."""
    ps = problems(cfg, stack)
    hits = [p for p in ps if p.startswith(f"platform:{key}: ") and fragment in p]
    assert hits, f"no problem for {key} ({fragment!r}) in {ps}"
    mocks = CountingMocks()
    with pytest.raises(StackConfigError):
        run_program(stack, cfg, secrets={k: cfg[k] for k in PLACEHOLDER_SECRETS}, mocks=mocks)
    assert mocks.calls == 0
    return ps


def test_null_host_name_and_null_host_entry() -> None:
    cfg = config("prod-ha")
    cfg["hosts"]["postgres"][0]["name"] = None
    refused(cfg, "hosts.postgres[0].name", "is required")
    cfg = config("prod-ha")
    cfg["hosts"]["redis"].append(None)
    refused(cfg, "hosts.redis[3]", "is null")
    cfg = config("prod-ha")
    cfg["hosts"]["redis"][0]["privateIp"] = None
    refused(cfg, "hosts.redis[0].privateIp", "is required")


@pytest.mark.parametrize(("key", "value"), [
    ("privateIp", "2001:db8::22"), ("publicIp", "2001:db8::1"), ("privateIp", "::ffff:192.0.2.1"),
])
def test_ipv6_host_addresses_are_refused(key: str, value: str) -> None:
    cfg = config("prod-ha")
    cfg["hosts"]["postgres"][1][key] = value
    refused(cfg, f"hosts.postgres[1].{key}", "IPv6")


def test_ipv6_admin_source_and_cidrs_are_refused() -> None:
    refused(config("prod-ha", ssh={"adminSources": ["2001:db8::/64"]}), "ssh.adminSources[0]", "IPv6")
    refused(config("prod-ha", k3s={"clusterCidr": "fd00::/64"}), "k3s.clusterCidr", "IPv6")
    refused(config("prod-ha", k3s={"metallbRange": "2001:db8::10-2001:db8::20"}), "k3s.metallbRange", "IPv4")


@pytest.mark.parametrize(("value", "kind"), [
    ("0.0.0.0", "unspecified"), ("127.0.0.1", "loopback"), ("224.0.0.5", "multicast"),
    ("255.255.255.255", "broadcast"), ("169.254.1.1", "link-local"), ("240.0.0.1", "reserved"),
])
def test_addresses_a_vm_cannot_have(value: str, kind: str) -> None:
    cfg = config("prod-ha")
    cfg["hosts"]["monitoring"][0]["privateIp"] = value
    refused(cfg, "hosts.monitoring[0].privateIp", f"is a {kind} address")


def test_newlines_never_reach_a_host_file() -> None:
    refused(config("prod-ha", s3={**config("prod-ha")["s3"], "region": "eu-west-1\nrepo1-path=/"}),
            "s3.region", "control character")
    cfg = config("prod-ha")
    cfg["hosts"]["postgres"][0]["hostKey"] = "ssh-ed25519 AAAAC3Nza\nHost *"
    refused(cfg, "hosts.postgres[0].hostKey", "control character")
    cfg = config("prod-ha")
    cfg["hosts"]["postgres"][0]["hostKey"] = "not a key"
    refused(cfg, "hosts.postgres[0].hostKey", "one OpenSSH public key line")
    refused(config("prod-ha", monitoring={"webhookUrl": "https://h/x", "slackChannel": "#ops\r\nX: y"}),
            "monitoring.slackChannel", "control character")
    refused(config("prod-ha", redis={"apps": ["nextcloud", "mau\ttic"]}), "redis.apps[1]", "control character")


def test_a_secret_with_a_newline_is_refused_without_echoing_it() -> None:
    cfg = config("prod-ha", s3SecretKey="abc\nrepo1-s3-key=stolen")
    ps = refused(cfg, "s3SecretKey", "control character")
    assert not any("stolen" in p for p in ps)
    # The deploy key is a PEM block: its newlines are fine.
    parse_settings(config("prod-ha", sshPrivateKey="-----BEGIN KEY-----\nabc\n-----END KEY-----\n"), "prod-ha")


@pytest.mark.parametrize(("key", "schedule", "why"), [
    ("postgres.backup.fullSchedule", "61 * * * *", "minute '61' is not a number in 0-59"),
    ("postgres.backup.incrementalSchedule", "0 24 * * *", "hour '24' is not a number in 0-23"),
    ("postgres.backup.fullSchedule", "0 1 32 * *", "day '32' is not a number in 1-31"),
    ("postgres.backup.fullSchedule", "0 1 * 13 *", "month '13' is not a number in 1-12"),
    ("postgres.backup.fullSchedule", "0 1 * * 8", "weekday '8' is not a number in 0-7"),
    ("postgres.backup.fullSchedule", "*/0 * * * *", "step '0' must be a positive number"),
    ("redis.backup.schedule", "61 * * * *", "minute '61' is not a number in 0-59"),
])
def test_cron_fields_are_checked_by_range(key: str, schedule: str, why: str) -> None:
    block, _, leaf = key.rpartition(".")
    top, _, sub = block.partition(".")
    refused(config("prod-ha", **{top: {sub: {leaf: schedule}}}), key, why)


def test_duplicates_in_lists() -> None:
    refused(config("prod-ha", redis={"apps": ["nextcloud", "mautic", "nextcloud"]}), "redis.apps[2]", "duplicate")
    refused(config("prod-ha", postgres={"extraDatabases": ["crm", "crm"]}), "postgres.extraDatabases[1]", "duplicate")


def test_names_and_domains() -> None:
    cfg = config("prod-ha")
    cfg["hosts"]["postgres"][0]["name"] = "db-"
    refused(cfg, "hosts.postgres[0].name", "does not end with '-'")
    long_domain = ".".join(["a" * 60] * 5) + ".com"
    assert len(long_domain) > 253
    refused(config("prod-ha", domain=long_domain), "domain", "at most 253")
    refused(config("prod-ha", apps={"odoo": {"hostname": "odoo..example.com"}}), "apps.odoo.hostname", "DNS name")


@pytest.mark.parametrize("value", [42, ["a@b.c"], "not-an-address", "ops@localhost"])
def test_acme_email_is_checked(value: Any) -> None:
    refused(config("prod-ha", acmeEmail=value), "acmeEmail")


def test_s3_endpoint_path_memory_and_cidr_overlap() -> None:
    s3 = config("prod-ha")["s3"]
    refused(config("prod-ha", s3={**s3, "endpoint": "https://s3.example.com/bucket"}), "s3.endpoint", "without a path")
    # A trailing slash is not a path.
    ok = parse_settings(config("prod-ha", s3={**s3, "endpoint": "https://s3.example.com:9000/"}), "prod-ha")
    assert ok.s3.endpoint == "https://s3.example.com:9000"
    refused(config("prod-ha", redis={"maxmemoryMb": 100000}), "redis.maxmemoryMb", "smallest Redis VM")
    refused(config("prod-ha", k3s={"clusterCidr": "10.42.0.0/16", "serviceCidr": "10.42.128.0/17"}),
            "k3s.serviceCidr", "overlaps k3s.clusterCidr")


def three_db_vms() -> dict[str, Any]:
    cfg = config("prod-ha")
    cfg["hosts"]["postgres"] = [*cfg["hosts"]["postgres"], {"name": "db-3", "privateIp": "10.0.1.23"}]
    cfg.pop("postgres", None)  # no explicit witness: the default must fit
    return cfg


def test_three_database_vms_render_with_etcd_on_them_alone() -> None:
    s = parse_settings(three_db_vms(), "prod-ha")
    assert s.postgres.etcd_witness is None
    run = run_program("prod-ha", three_db_vms())
    etcd_steps = sorted(r.name for r in run.records if r.name.endswith("-etcd"))
    assert etcd_steps == ["db-1-etcd", "db-2-etcd", "db-3-etcd"]


def test_the_witness_can_be_switched_off_and_an_even_count_says_what_to_change() -> None:
    one = config("mvp", postgres={"etcdWitness": "none"})
    assert parse_settings(one, "mvp").postgres.etcd_witness is None
    ps = problems(config("prod-ha", postgres={"etcdWitness": "none"}))
    assert any(p.startswith("platform:postgres.etcdWitness: 2 PostgreSQL VMs need a third etcd member") for p in ps)


@pytest.mark.parametrize("count", [4, 5])
def test_default_redis_quorum_validates_with_more_sentinels(count: int) -> None:
    cfg = config("prod-ha")
    cfg["hosts"]["redis"] = [{"name": f"redis-{i + 1}", "privateIp": f"10.0.2.{30 + i}"} for i in range(count)]
    cfg.pop("redis", None)
    assert parse_settings(cfg, "prod-ha").redis.quorum == count // 2 + 1


def test_unknown_preset_is_the_only_problem() -> None:
    cfg = config("prod-ha", preset="prod_ha")
    cfg.pop("redis", None)
    ps = problems(cfg)
    assert ps == ["platform:preset: got 'prod_ha'; allowed: mvp, prod-ha"], ps


def test_the_program_raises_the_sdks_clean_error() -> None:
    cfg = copy.deepcopy(config("prod-ha", redis={"qorum": 2}))
    with pytest.raises(pulumi.RunError) as e:
        run_program("prod-ha", cfg)
    assert "platform:redis.qorum: unknown key" in str(e.value) and "Traceback" not in str(e.value)
