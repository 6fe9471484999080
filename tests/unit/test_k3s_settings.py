"""`platform:k3s`: defaults per preset, and every refusal the K3s issue lists, each naming the key
and what is allowed, before any resource is registered (components/settings/k3s.py)."""

from __future__ import annotations

import copy

import pytest

from components.settings.k3s import DEFAULT_VERSION
from tests.unit.helpers import config, settings
from tests.unit.test_settings_refusals import refused


def k3s(stack: str = "prod-ha", **keys: object) -> dict:  # type: ignore[type-arg]
    cfg = config(stack)
    cfg["k3s"] = {**cfg.get("k3s", {}), **keys}
    return cfg


def test_defaults_per_preset() -> None:
    mvp, ha, lab = settings("mvp").k3s, settings("prod-ha").k3s, settings("lab").k3s
    assert mvp.version == ha.version == DEFAULT_VERSION == "v1.36.1+k3s1"
    assert mvp.servers_run_workloads and not ha.servers_run_workloads
    # The API endpoint defaults to the first server's public address (what Pulumi reaches too).
    assert ha.api_endpoint == "198.51.100.11" and ha.node_network == "198.51.100.0/24"
    assert (ha.snapshot_schedule, ha.snapshot_retention, ha.artifact_url) == ("0 */12 * * *", 14, None)
    assert not lab.enabled and lab.api_endpoint == ""
    s = settings("prod-ha", k3s={**config("prod-ha")["k3s"], "apiEndpoint": "k8s.example.com",
                                 "artifactUrl": "https://mirror.example.com/k3s/v1.36.1%2Bk3s1",
                                 "serversRunWorkloads": True, "etcdSnapshot": {"retention": 3}})
    assert s.k3s.api_endpoint == "k8s.example.com" and s.k3s.servers_run_workloads
    assert s.k3s.artifact_url == "https://mirror.example.com/k3s/v1.36.1%2Bk3s1" and s.k3s.snapshot_retention == 3


def test_even_number_of_servers_in_prod_ha() -> None:
    cfg = config("prod-ha")
    cfg["hosts"]["k3sServers"].append({"name": "k3s-6", "privateIp": "192.0.2.16", "publicIp": "198.51.100.16"})
    refused(cfg, "hosts.k3sServers", "has 4 servers; embedded etcd needs an odd number")


def test_overlapping_cidrs() -> None:
    refused(k3s(clusterCidr="10.42.0.0/16", serviceCidr="10.42.128.0/17"), "k3s.serviceCidr",
            "overlaps k3s.clusterCidr")
    # A pod network over the VMs' own addresses would shadow them inside the cluster.
    refused(k3s(clusterCidr="192.0.2.0/24"), "k3s.clusterCidr", "contains the address of")


@pytest.mark.parametrize(("value", "fragment"), [
    ("192.0.2.200-192.0.2.210", "outside k3s.nodeNetwork (198.51.100.0/24)"),
    ("198.51.100.210-198.51.100.200", "is reversed: 198.51.100.210 comes after 198.51.100.200"),
    ("198.51.100.10-198.51.100.20", "includes 198.51.100.11, the address of host k3s-1"),
    ("198.51.100.200", "expected FIRST-LAST"),
])
def test_metallb_range(value: str, fragment: str) -> None:
    refused(k3s(metallbRange=value), "k3s.metallbRange", fragment)


def test_metallb_range_against_the_k3s_cidrs_and_the_announcing_nodes() -> None:
    refused(k3s(metallbRange="10.43.0.10-10.43.0.20", nodeNetwork="10.0.0.0/8"), "k3s.metallbRange",
            "overlaps 10.43.0.0/16")
    cfg = k3s()
    cfg["hosts"]["k3sAgents"][1]["publicIp"] = "203.0.113.99"
    refused(cfg, "k3s.nodeNetwork", "does not hold the publicIp of k3s-5")


@pytest.mark.parametrize("value", ["1.36.1+k3s1", "v1.36.1", "v1.36.1-rc1+k3s1", "v1.36.1+rke2r1", "latest"])
def test_unknown_version_format(value: str) -> None:
    refused(k3s(version=value), "k3s.version", "expected a K3s release such as v1.36.1+k3s1")


def test_versions_before_the_rendered_config_are_refused() -> None:
    refused(k3s(version="v1.30.6+k3s1"), "k3s.version", "older than v1.34.0")


@pytest.mark.parametrize(("value", "fragment"), [
    ("2001:db8::1", "is IPv6 or has a port"), ("k8s.example.com:6443", "is IPv6 or has a port"),
    ("127.0.0.1", "is a loopback address"), ("Bad_Name", "a lower-case DNS name"),
])
def test_api_endpoint(value: str, fragment: str) -> None:
    refused(k3s(apiEndpoint=value), "k3s.apiEndpoint", fragment)


def test_tainted_servers_need_agents() -> None:
    cfg = copy.deepcopy(config("prod-ha"))
    cfg["hosts"]["k3sAgents"] = []
    refused(cfg, "hosts.k3sAgents", "is empty while k3s.serversRunWorkloads is false")
    cfg["k3s"] = {**cfg["k3s"], "serversRunWorkloads": True}
    assert settings("prod-ha", **{"hosts": cfg["hosts"], "k3s": cfg["k3s"]}).k3s.servers_run_workloads


def test_artifact_url_and_snapshot_keys() -> None:
    refused(k3s(artifactUrl="ftp://mirror.example.com/k3s"), "k3s.artifactUrl", "an http(s) base URL")
    refused(k3s(artifactUrl="https://mirror.example.com/k3s/"), "k3s.artifactUrl", "without a trailing slash")
    refused(k3s(etcdSnapshot={"schedule": "0 25 * * *"}), "k3s.etcdSnapshot.schedule")
    refused(k3s(etcdSnapshot={"retention": 0}), "k3s.etcdSnapshot.retention", "allowed: 1 to 1000")
    refused(k3s(etcdSnapshot={"keep": 3}), "k3s.etcdSnapshot.keep", "unknown key")
    refused(k3s(bogus=1), "k3s.bogus", "unknown key")
