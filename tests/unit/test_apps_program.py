"""AppStack under pulumi.runtime.set_mocks: what it registers on the K3s provider, that every
Secret value is a Pulumi secret and appears in no other object, that every workload references
its app's Secret, its outputs; and the apps' bad config refused with the key named before
anything is registered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scripts.program import Registered, Run, is_secret, run_program, unwrap
from scripts.render import secret_values
from tests.unit.helpers import config
from tests.unit.test_settings_refusals import refused

COMPONENT = "platform:apps:AppStack"
APPS = ("nextcloud", "odoo", "keycloak", "mautic")


@pytest.fixture(scope="module", params=["mvp", "prod-ha"])
def run(request: pytest.FixtureRequest) -> tuple[str, Run]:
    return request.param, run_program(request.param, config(request.param))


def apps(r: Run) -> dict[str, Registered]:
    return r.children(COMPONENT)


def group_objects(r: Run) -> list[dict[str, Any]]:
    return [o for x in apps(r).values() if x.type == "kubernetes:yaml/v2:ConfigGroup"
            for o in unwrap(x.inputs["objs"])]


def test_registered_on_the_k3s_provider(run: tuple[str, Run]) -> None:
    _, r = run
    recs = apps(r)
    groups = sorted(x.name for x in recs.values() if x.type == "kubernetes:yaml/v2:ConfigGroup")
    assert groups == sorted(["apps-namespaces", "apps-router", *(f"apps-{a}" for a in APPS)])
    secrets = sorted(x.name for x in recs.values() if x.type == "kubernetes:core/v1:Secret")
    assert secrets == sorted(["platform-platform-router-config", *(f"{a}-{a}-credentials" for a in APPS)])
    cms = sorted(x.name for x in recs.values() if x.type == "kubernetes:core/v1:ConfigMap")
    assert cms == sorted(f"{ns}-platform-ca" for ns in ("platform", *APPS))
    kube = [x for x in recs.values() if x.type.startswith("kubernetes:")]
    assert kube and all(x.provider.endswith("$pulumi:providers:kubernetes::k3s::k3s-id") for x in kube)
    # Each app's objects wait for its namespace's Secrets and CA.
    urn = {x.name: x.urn for x in recs.values()}
    for a in APPS:
        deps = set(recs[f"apps-{a}"].dependencies)
        assert {urn["apps-namespaces"], urn[f"{a}-{a}-credentials"], urn[f"{a}-platform-ca"]} <= deps


def test_secret_values_are_secret_and_nowhere_else(run: tuple[str, Run]) -> None:
    _, r = run
    values = secret_values(r)
    for x in apps(r).values():
        if x.type == "kubernetes:core/v1:Secret":
            assert is_secret(x.inputs["stringData"]), x.name
    text = json.dumps(group_objects(r))
    leaked = [v for v in values if len(v) >= 8 and v in text]
    assert leaked == []
    # The rendered haproxy.cfg in the router's Secret has the health check password substituted.
    router = unwrap(apps(r)["platform-platform-router-config"].inputs["stringData"])["haproxy.cfg"]
    assert "{{secret:" not in router and any(v in router for v in values)


def test_every_workload_references_its_secret(run: tuple[str, Run]) -> None:
    _, r = run
    for o in group_objects(r):
        if o["kind"] not in ("Deployment", "Job", "CronJob"):
            continue
        ns = o["metadata"]["namespace"]
        spec = o["spec"]["jobTemplate"]["spec"] if o["kind"] == "CronJob" else o["spec"]
        pod = spec["template"]["spec"]
        want = "platform-router-config" if ns == "platform" else f"{ns}-credentials"
        refs = {e["valueFrom"]["secretKeyRef"]["name"] for c in pod["containers"] for e in c.get("env", [])
                if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]}
        refs |= {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
        refs |= {s["secret"]["name"] for v in pod.get("volumes", []) if "projected" in v
                 for s in v["projected"]["sources"] if "secret" in s}
        assert refs == {want}, (o["metadata"]["name"], refs)


def test_outputs(run: tuple[str, Run]) -> None:
    _, r = run
    out = r.outputs
    assert set(unwrap(out["appUrls"])) == set(APPS)
    assert is_secret(out["appAdmins"])
    assert set(unwrap(out["appAdmins"])) == set(APPS)
    assert unwrap(out["appProbeTargets"])["nextcloud"].endswith("/status.php")


def test_lab_has_no_apps() -> None:
    r = run_program("lab", config("lab"))
    assert not any(x.type == COMPONENT for x in r.records)
    assert "appUrls" not in r.outputs


def test_app_hostname_must_be_a_dns_name_under_a_domain() -> None:
    for bad in ("nextcloud", "Next_cloud.example.com", "-x.example.com"):
        cfg = config("prod-ha")
        cfg["apps"] = {"nextcloud": {"hostname": bad}}
        refused(cfg, "apps.nextcloud.hostname", "DNS name")


def test_two_apps_on_one_hostname() -> None:
    cfg = config("prod-ha")
    cfg["apps"] = {"odoo": {"hostname": "apps.example.com"}, "keycloak": {"hostname": "apps.example.com"}}
    refused(cfg, "apps.keycloak.hostname", "also apps.odoo.hostname")
    # A disabled app's host name does not count.
    cfg["apps"]["keycloak"]["enabled"] = False
    run_program("prod-ha", cfg)


def test_mautic_without_mariadb_and_bad_issuer() -> None:
    cfg = config("prod-ha")
    cfg["mariadb"] = {"enabled": False}
    refused(cfg, "mariadb.enabled", "Mautic")
    cfg = config("prod-ha")
    cfg["apps"] = {"tlsIssuer": "prod"}
    refused(cfg, "apps.tlsIssuer", "production")
