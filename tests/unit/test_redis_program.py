"""RedisSentinelCluster under pulumi.runtime.set_mocks, for every stack file: steps per host,
their dependencies, that every password is secret on the wire and in the outputs."""

from __future__ import annotations

import pytest

from components.remote import read_bundle
from scripts.program import Registered, Run, is_secret, run_program, step_bundle
from tests.unit.helpers import STACKS, config

COMPONENT = "platform:redis:RedisSentinelCluster"


@pytest.fixture(scope="module", params=STACKS)
def run(request: pytest.FixtureRequest) -> tuple[str, Run]:
    stack = request.param
    return stack, run_program(stack, config(stack))


def redis_records(r: Run) -> dict[str, Registered]:
    return r.children(COMPONENT)


def expected_steps(stack: str) -> set[str]:
    hosts = ["redis-1"] if stack == "mvp" else ["redis-1", "redis-2", "redis-3"]
    data = hosts[:2] if len(hosts) >= 3 else hosts
    out = {f"{h}-{s}" for h in data for s in ("redis", "redis-backup")}
    out |= {f"{h}-{s}" for h in hosts for s in ("sentinel", "redis-exporters")}
    return out


def test_steps_per_host(run: tuple[str, Run]) -> None:
    stack, r = run
    recs = redis_records(r)
    steps = {n for n, x in recs.items() if x.type == "command:remote:Command"}
    assert steps == expected_steps(stack)
    if stack != "mvp":
        assert "redis-3-redis" not in steps and "redis-3-redis-backup" not in steps
    # Only the resource types the lab's mock implements.
    assert {x.type for x in recs.values()} <= {"command:remote:Command", "random:index/randomPassword:RandomPassword"}
    passwords = [x for x in recs.values() if x.type == "random:index/randomPassword:RandomPassword"]
    assert {p.name for p in passwords} == {"redis-admin", "redis-sentinel", "redis-exporter", "redis-healthcheck",
                                          "redis-backup", "redis-app-nextcloud", "redis-app-mautic"}
    for p in passwords:
        assert p.inputs["length"] == 32 and p.inputs["special"] is False


def test_dependencies(run: tuple[str, Run]) -> None:
    stack, r = run
    recs = redis_records(r)
    by_name = {x.name: x for x in r.records}

    def deps(name: str) -> set[str]:
        return set(recs[name].dependencies)

    hosts = ["redis-1"] if stack == "mvp" else ["redis-1", "redis-2", "redis-3"]
    data = hosts[:2] if len(hosts) >= 3 else hosts
    for h in data:
        assert by_name[f"{h}-firewall"].urn in deps(f"{h}-redis")
        assert recs[f"{h}-redis"].urn in deps(f"{h}-redis-backup")
        assert recs[f"{h}-redis"].urn in deps(f"{h}-redis-exporters")
    if len(data) > 1:
        assert recs["redis-1-redis"].urn in deps("redis-2-redis")
    for i, h in enumerate(hosts):
        assert by_name[f"{h}-firewall"].urn in deps(f"{h}-sentinel")
        assert {recs[f"{d}-redis"].urn for d in data} <= deps(f"{h}-sentinel")
        if i:
            assert recs[f"{hosts[i - 1]}-sentinel"].urn in deps(f"{h}-sentinel")
        assert recs[f"{h}-sentinel"].urn in deps(f"{h}-redis-exporters")
    bucket = next(x for x in r.records if x.type.startswith("aws:s3/") and x.name == "bucket-backups")
    assert bucket.urn in deps(f"{data[0]}-redis-backup")


def test_secrets_are_secret_and_never_in_files(run: tuple[str, Run]) -> None:
    _, r = run
    for name, x in redis_records(r).items():
        if x.type != "command:remote:Command":
            continue
        assert "generated-" not in x.inputs["create"] and "generated-" not in str(x.inputs["triggers"])
        stdin = x.inputs["stdin"]
        bundle = step_bundle(x)
        # A step that carries any secret has a secret stdin (the Sentinel-only exporter has none).
        assert is_secret(stdin) == any(m.startswith("secrets/") for m in bundle), name
        if not name.endswith("-redis-exporters") or name.startswith(("redis-1", "redis-2")):
            assert is_secret(stdin), name
        for member, text in bundle.items():
            if member.startswith("files/"):
                assert "generated-" not in text and "placeholder-" not in text, (name, member)
        secrets = {m.removeprefix("secrets/"): v for m, v in bundle.items() if m.startswith("secrets/")}
        assert all(v.startswith(("generated-redis-", "placeholder-")) for v in secrets.values()), name
        if name.endswith("-redis"):
            assert set(secrets) >= {"redis_password", "redis_sentinel", "redis_exporter", "redis_healthcheck",
                                    "redis_backup", "redis_app_nextcloud", "redis_app_mautic"}
            assert secrets["redis_password"] == "generated-redis-admin"
            assert "files/redis.conf" in bundle and "files/redis-guard" in bundle
        if name.endswith("-sentinel"):
            assert set(secrets) == {"redis_sentinel"}
        if name.endswith("-redis-backup"):
            assert set(secrets) == {"redis_backup", "s3_access_key", "s3_secret_key"}
            assert secrets["s3_access_key"] == "placeholder-s3AccessKey"


def test_outputs(run: tuple[str, Run]) -> None:
    stack, r = run
    o = r.outputs
    n = 1 if stack == "mvp" else 3
    assert len(o["redisSentinels"]) == n and all(a.endswith(":26379") for a in o["redisSentinels"])
    assert o["redisMasterName"] == "platform"
    assert o["redisRouter"].endswith(":6379")
    assert is_secret(o["redisApps"])
    apps = o["redisApps"]["value"]
    assert apps["nextcloud"] == {"user": "nextcloud", "password": "generated-redis-app-nextcloud",
                                 "keyPrefix": "nextcloud:"}
    assert len(o["redisScrapeTargets"]["sentinel"]) == n
    comp = next(x for x in r.records if x.type == COMPONENT)
    assert comp.name == "platform"


def test_firewall_opens_redis_ports_on_redis_hosts_only() -> None:
    r = run_program("lab", config("lab"))
    fw = {x.name: read_bundle(x.inputs["stdin"])["files/platform.nft"] for x in r.records
          if x.type == "command:remote:Command" and x.name.endswith("-firewall")}
    assert 'tcp dport 26379 accept comment "redis-sentinel"' in fw["redis-3-firewall"]
    assert "198.18.0.31/32 } tcp dport 9121" in fw["redis-1-firewall"]
    assert "dport 26379" not in fw["db-1-firewall"]
    assert 'dport 6379 accept comment "redis-router"' in fw["edge-1-firewall"]


def test_tls_material_reaches_the_steps_and_the_key_stays_secret() -> None:
    r = run_program("lab", config("lab", redis={"tls": True}))
    recs = redis_records(r)
    for name in ("redis-1-redis", "redis-3-sentinel"):
        stdin = recs[name].inputs["stdin"]
        assert is_secret(stdin)
        bundle = read_bundle(stdin["value"])
        assert "BEGIN CERTIFICATE" in bundle["files/tls-ca.crt"]
        assert "BEGIN CERTIFICATE" in bundle["files/tls-redis.crt"]
        assert bundle["files/tls-redis.key"] == "{{secret:redis_tls_key}}\n"
        assert "PRIVATE KEY" in bundle["secrets/redis_tls_key"]
        assert "TLS=1" in bundle["files/params.env"]
    conf = read_bundle(recs["redis-1-redis"].inputs["stdin"]["value"])["files/redis.conf"]
    assert "tls-port 6379" in conf.splitlines() and "port 0" in conf.splitlines()
