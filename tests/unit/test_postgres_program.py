"""PostgresHACluster, Router, InternalCA and Storage under mocks, through the whole program."""

from __future__ import annotations

from itertools import pairwise

import pytest

from components.postgres.names import etcd_members
from components.remote import read_bundle
from components.router import render as router_render
from scripts.lablib.apply import POLICIES
from scripts.program import is_secret, run_program
from tests.unit.helpers import STACKS, config, settings


@pytest.fixture(scope="module", params=STACKS)
def run(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    stack = request.param
    return stack, run_program(stack, config(stack))


def steps(r):  # type: ignore[no-untyped-def]
    return {c.name: c for c in r.records if c.type == "command:remote:Command"}


def test_steps_per_host(run) -> None:  # type: ignore[no-untyped-def]
    stack, r = run
    s = settings(stack)
    by = steps(r)
    dbs = [h.name for h in s.hosts["postgres"]]
    members = [h.name for h in etcd_members(s)]
    for m in members:
        assert f"{m}-etcd" in by
    for h in dbs:
        for kind in ("postgres", "pgbouncer", "pgbackrest", "exporter", "pgbouncer-exporter"):
            assert f"{h}-{kind}" in by
    assert [n for n in by if n.endswith("-databases")] == [f"{dbs[0]}-databases"]
    ours = [n for n in by if n.rsplit("-", 1)[-1] in ("etcd", "postgres", "pgbouncer", "pgbackrest", "exporter",
                                                        "databases") and "-mariadb" not in n]
    assert len(ours) == len(members) + 5 * len(dbs) + 1  # "-exporter" also ends "-pgbouncer-exporter"
    routers = [n for n in by if n.endswith("-router")]
    assert routers == ([f"{h.name}-router" for h in s.hosts["edge"]] if s.router.placement == "vms" else [])
    clusters = [x for x in r.records if x.type == "platform:postgres:PostgresHACluster"]
    assert len(clusters) == 1
    assert all(by[n].parent == clusters[0].urn for n in ours)


def test_dependencies(run) -> None:  # type: ignore[no-untyped-def]
    stack, r = run
    s = settings(stack)
    by = steps(r)
    etcd = {by[f"{m.name}-etcd"].urn for m in etcd_members(s)}
    leader, *replicas = [h.name for h in s.hosts["postgres"]]
    for h in s.hosts["postgres"]:
        deps = set(by[f"{h.name}-postgres"].dependencies)
        assert etcd <= deps, "Patroni starts only after every etcd member's step"
        assert by[f"{h.name}-firewall"].urn in deps
        assert by[f"{h.name}-postgres"].urn in by[f"{h.name}-pgbouncer"].dependencies
        assert by[f"{leader}-databases"].urn in by[f"{h.name}-pgbouncer"].dependencies
        assert by[f"{leader}-databases"].urn in by[f"{h.name}-exporter"].dependencies
        assert by[f"{h.name}-pgbouncer"].urn in by[f"{h.name}-pgbouncer-exporter"].dependencies
    for name in replicas:
        deps = set(by[f"{name}-postgres"].dependencies)
        assert by[f"{leader}-postgres"].urn in deps and by[f"{leader}-pgbackrest"].urn in deps
    assert by[f"{leader}-postgres"].urn in by[f"{leader}-databases"].dependencies
    for m in etcd_members(s):
        assert by[f"{m.name}-firewall"].urn in by[f"{m.name}-etcd"].dependencies
    # etcd members one after the other, so that restarts roll instead of costing quorum.
    members = [m.name for m in etcd_members(s)]
    for prev, nxt in pairwise(members):
        assert by[f"{prev}-etcd"].urn in by[f"{nxt}-etcd"].dependencies


def test_secrets_are_secret_and_never_in_files(run) -> None:  # type: ignore[no-untyped-def]
    _, r = run
    for rec in r.records:
        if rec.type == "random:index/randomPassword:RandomPassword":
            assert rec.inputs["length"] == 32 and rec.inputs["special"] is False
    by = steps(r)
    for name, c in by.items():
        if not name.endswith(("-etcd", "-postgres", "-pgbouncer", "-databases", "-exporter")):
            continue
        assert is_secret(c.inputs["stdin"]), name
        bundle = read_bundle(c.inputs["stdin"]["value"])
        files = {k: v for k, v in bundle.items() if k.startswith("files/")}
        secrets = {k: v for k, v in bundle.items() if k.startswith("secrets/")}
        assert secrets, name
        for text in files.values():
            assert "generated-" not in text and "placeholder-s3" not in text and "PRIVATE KEY" not in text
    pg = by[next(n for n in by if n.endswith("-postgres"))]
    bundle = read_bundle(pg.inputs["stdin"]["value"])
    assert "PRIVATE KEY" in bundle["secrets/host_key"]
    assert bundle["secrets/pg_superuser_password"].startswith("generated-")
    assert "{{secret:pg_superuser_password}}" in bundle["files/config.yml"]


def test_private_keys_are_secret_inputs(run) -> None:  # type: ignore[no-untyped-def]
    _, r = run
    for rec in r.records:
        if rec.type == "tls:index/certRequest:CertRequest":
            assert is_secret(rec.inputs["privateKeyPem"])
            assert rec.inputs["ipAddresses"] and rec.inputs["dnsNames"]
        if rec.type == "tls:index/locallySignedCert:LocallySignedCert":
            assert is_secret(rec.inputs["caPrivateKeyPem"])
        if rec.type == "tls:index/selfSignedCert:SelfSignedCert":
            assert is_secret(rec.inputs["privateKeyPem"]) and rec.inputs["isCaCertificate"] is True
    types = {rec.type for rec in r.records if rec.custom}
    allowed = {"random:index/randomPassword:RandomPassword", "tls:index/privateKey:PrivateKey",
               "tls:index/selfSignedCert:SelfSignedCert", "tls:index/certRequest:CertRequest",
               "tls:index/locallySignedCert:LocallySignedCert", "pulumi:providers:aws", "aws:s3/bucket:Bucket",
               "command:remote:Command", *POLICIES}
    # Kubernetes objects go to the K3s cluster through its own provider (test_k3s_program checks
    # each one); everything else is one of the types above.
    assert {t for t in types if not t.startswith(("pulumi:providers:", "kubernetes:"))} <= allowed


def test_storage_provider_and_buckets(run) -> None:  # type: ignore[no-untyped-def]
    stack, r = run
    s = settings(stack)
    provider = next(x for x in r.records if x.type == "pulumi:providers:aws")
    assert provider.inputs["s3UsePathStyle"] in (True, "true")
    assert is_secret(provider.inputs["secretKey"]) and is_secret(provider.inputs["accessKey"])
    assert s.s3.endpoint in str(provider.inputs["endpoints"])
    buckets = sorted(x.inputs["bucket"] for x in r.records if x.type == "aws:s3/bucket:Bucket")
    assert buckets == sorted([s.s3.buckets.nextcloud, s.s3.buckets.backups, s.s3.buckets.app_backups])


def test_outputs(run) -> None:  # type: ignore[no-untyped-def]
    stack, r = run
    s = settings(stack)
    out = r.outputs
    assert set(out["postgresApps"]) == set(s.postgres.databases)
    assert out["postgresRouter"] == router_render.endpoint(s)
    assert set(out["postgresPgbouncers"]) == {h.name for h in s.hosts["postgres"]}
    assert "BEGIN CERTIFICATE" in out["postgresCaCertificate"]
    assert len(out["postgresScrapeTargets"]["postgres_exporter"]) == len(s.hosts["postgres"])
    assert out["postgresScrapeTargets"]["pgbouncer_exporter"] == [f"{h.private_ip}:9127" for h in s.hosts["postgres"]]
    assert out["postgresApps"]["odoo"]["user"] == "odoo"


def test_password_outputs_are_secret() -> None:
    import pulumi

    from components.postgres.component import PostgresHACluster

    captured: dict[str, PostgresHACluster] = {}
    orig = PostgresHACluster.__init__

    def spy(self, *a, **kw):  # type: ignore[no-untyped-def]
        orig(self, *a, **kw)
        captured["c"] = self

    PostgresHACluster.__init__ = spy  # type: ignore[method-assign]
    try:
        run_program("mvp", config("mvp"))
    finally:
        PostgresHACluster.__init__ = orig  # type: ignore[method-assign]
    app = captured["c"].apps["nextcloud"]
    for key in ("password", "dsn"):
        assert isinstance(app[key], pulumi.Output)
        data = app[key]._data  # noqa: SLF001 (the resolved value and its secret flag)
        assert data.done() and data.result().is_secret is True, key
    assert captured["c"].apps["nextcloud"]["database"] == "nextcloud"


def test_pgbouncer_exporter_step(run) -> None:  # type: ignore[no-untyped-def]
    stack, r = run
    s = settings(stack)
    by = steps(r)
    for h in s.hosts["postgres"]:
        c = by[f"{h.name}-pgbouncer-exporter"]
        assert c.parent == by[f"{h.name}-pgbouncer"].parent
        assert is_secret(c.inputs["stdin"])
        bundle = read_bundle(c.inputs["stdin"]["value"])
        assert "ensure_packages prometheus-pgbouncer-exporter" in bundle["step.sh"]
        assert set(k for k in bundle if k.startswith("secrets/")) == {"secrets/pg_monitoring_password"}
        value = bundle["secrets/pg_monitoring_password"]
        files = {k: v for k, v in bundle.items() if k.startswith("files/")}
        assert all(value not in text for text in files.values())
        assert f"host = {h.private_ip}" in files["files/pgbouncer-exporter.conf"].splitlines()
        assert "{{secret:pg_monitoring_password}}" in files["files/pgbouncer-exporter.pgpass"]
        assert "collectors.StatsCollector.metrics" in files["files/pgbouncer_exporter.py"]
        assert f"HOST_IP={h.private_ip}" in files["files/params.env"] and "PORT=9127" in files["files/params.env"]


def test_firewall_opens_the_pgbouncer_exporter_to_monitoring_only() -> None:
    from components.postgres.contract import ports

    s = settings("lab")
    by_name = {p.name: p for p in ports(s)}
    assert by_name["pgbouncer-exporter"].port == 9127
    assert by_name["pgbouncer-exporter"].on == ("postgres",)
    assert by_name["pgbouncer-exporter"].sources == ("monitoring",)
    r = run_program("lab", config("lab"))
    fw = {x.name: read_bundle(x.inputs["stdin"])["files/platform.nft"] for x in r.records
          if x.type == "command:remote:Command" and x.name.endswith("-firewall")}
    mon = s.hosts["monitoring"][0].private_ip
    for h in s.hosts.all():
        rules = [ln for ln in fw[f"{h.name}-firewall"].splitlines() if "dport 9127" in ln]
        if h.role == "postgres":
            assert rules == [f'    ip saddr {{ {mon}/32 }} tcp dport 9127 accept comment "pgbouncer-exporter"'], rules
        else:
            assert rules == [], h.name
