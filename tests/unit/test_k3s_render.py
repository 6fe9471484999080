"""K3s's pure renderers (components/k3s/render/): each node's config.yaml parsed back, the units,
and the kubeconfig rewrite (cluster, user and context all named `default`, an IPv6 endpoint)."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k3s import names as n
from components.k3s import render
from components.settings import Settings
from tests.unit.helpers import config, settings

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def parsed(s: Settings, host: str) -> dict[str, Any]:
    text = render.render_config(s, s.hosts.by_name(host))
    assert text.startswith("# K3s configuration. Rendered")
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def test_prod_ha_servers() -> None:
    s = settings("prod-ha")
    first, second, third = (parsed(s, h) for h in ("k3s-1", "k3s-2", "k3s-3"))
    # The first server starts the cluster; the others join through it, on the private network.
    assert first["cluster-init"] is True and "server" not in first
    for other in (second, third):
        assert other["server"] == "https://192.0.2.11:6443" and "cluster-init" not in other
    sans = ["198.51.100.11", "192.0.2.11", "192.0.2.12", "198.51.100.12", "192.0.2.13", "198.51.100.13"]
    for doc, name, ip in ((first, "k3s-1", "192.0.2.11"), (second, "k3s-2", "192.0.2.12")):
        assert doc["token"] == "{{secret:k3s_token}}"  # substituted on the node, never rendered
        assert doc["node-name"] == name and doc["node-ip"] == ip
        assert doc["tls-san"] == sans  # the API endpoint first, then every server's two addresses
        assert doc["disable"] == ["servicelb"]
        assert (doc["cluster-cidr"], doc["service-cidr"]) == ("10.42.0.0/16", "10.43.0.0/16")
        assert doc["node-taint"] == ["CriticalAddonsOnly=true:NoExecute"]
        assert doc["node-label"] == ["platform/vm-role=k3sServers", "platform/workloads=false"]
        assert doc["write-kubeconfig-mode"] == "0600"


def test_etcd_snapshots_to_the_backups_bucket_path_style() -> None:
    s = settings("prod-ha", s3={**config("prod-ha")["s3"], "endpoint": "https://s3.example.com:9443",
                                "caCertificate": CA},
                 k3s={**config("prod-ha")["k3s"], "etcdSnapshot": {"schedule": "15 */6 * * *", "retention": 20}})
    doc = parsed(s, "k3s-2")
    assert {k: v for k, v in doc.items() if k.startswith("etcd-")} == {
        "etcd-snapshot-schedule-cron": "15 */6 * * *",
        "etcd-snapshot-retention": 20,
        "etcd-s3": True,
        "etcd-s3-endpoint": "s3.example.com:9443",  # no scheme: K3s speaks HTTPS to it by default
        "etcd-s3-region": "eu-west-1",
        "etcd-s3-bucket": "platform-prod-ha-backups",
        "etcd-s3-folder": "k3s/prod-ha",
        "etcd-s3-bucket-lookup-type": "path",
        "etcd-s3-retention": 20,
        "etcd-s3-access-key": "{{secret:s3_access_key}}",
        "etcd-s3-secret-key": "{{secret:s3_secret_key}}",
        "etcd-s3-endpoint-ca": "/etc/rancher/k3s/s3-ca.pem",
    }
    assert "etcd-s3-endpoint-ca" not in parsed(settings("prod-ha"), "k3s-1")


def test_agents_carry_only_what_an_agent_reads() -> None:
    s = settings("prod-ha")
    doc = parsed(s, "k3s-4")
    assert doc == {
        "token": "{{secret:k3s_token}}", "node-name": "k3s-4", "node-ip": "192.0.2.14",
        "node-external-ip": "198.51.100.14",
        "node-label": ["platform/vm-role=k3sAgents", "platform/workloads=true"],
        "server": "https://192.0.2.11:6443",
    }


def test_mvp_server_runs_workloads_and_still_uses_embedded_etcd() -> None:
    s = settings("mvp")
    doc = parsed(s, "k3s-1")
    assert doc["cluster-init"] is True and "node-taint" not in doc  # snapshots need etcd, not sqlite
    assert doc["node-label"][1] == "platform/workloads=true"
    assert doc["tls-san"] == ["198.51.100.11", "192.0.2.11"]
    # A DNS endpoint is named in the certificate too; a host without a public address has one SAN less.
    cfg = config("mvp", k3s={**config("mvp")["k3s"], "apiEndpoint": "k8s.example.com",
                             "serversRunWorkloads": False})
    del cfg["hosts"]["k3sServers"][0]["publicIp"]
    del cfg["k3s"]["metallbRange"]  # its pool is on the public network, which this server lacks
    s = settings("mvp", **{k: cfg[k] for k in ("hosts", "k3s")})
    doc = parsed(s, "k3s-1")
    assert doc["tls-san"] == ["k8s.example.com", "192.0.2.11"] and "node-external-ip" not in doc
    assert doc["node-taint"] == ["CriticalAddonsOnly=true:NoExecute"]


def test_units() -> None:
    s = settings("prod-ha")
    server, agent = (s.hosts.by_name(h) for h in ("k3s-1", "k3s-4"))
    assert (render.unit_name(server), render.unit_name(agent)) == ("k3s.service", "k3s-agent.service")
    su, au = render.render_unit(server), render.render_unit(agent)
    assert "ExecStart=/usr/local/bin/k3s server\n" in su and "Type=notify\n" in su
    assert "ExecStart=/usr/local/bin/k3s agent\n" in au and "Type=exec\n" in au
    for unit in (su, au):
        assert "KillMode=process\n" in unit and "Delegate=yes\n" in unit and "WantedBy=multi-user.target" in unit


def k3s_kubeconfig(server: str = "https://127.0.0.1:6443") -> str:
    """As K3s writes /etc/rancher/k3s/k3s.yaml: cluster, user and context all named `default`."""
    data = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()
    return yaml.safe_dump({
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": data, "server": server}, "name": "default"}],
        "contexts": [{"context": {"cluster": "default", "user": "default"}, "name": "default"}],
        "current-context": "default",
        "kind": "Config",
        "preferences": {},
        "users": [{"name": "default", "user": {"client-certificate-data": data, "client-key-data": data}}],
    })


def test_kubeconfig_rewrite_with_everything_named_default() -> None:
    out = yaml.safe_load(render.rewrite_kubeconfig(k3s_kubeconfig(), "198.51.100.11", "platform-prod-ha"))
    assert out["clusters"][0]["cluster"]["server"] == "https://198.51.100.11:6443"
    assert [c["name"] for c in out["clusters"]] == ["platform-prod-ha"]
    assert [u["name"] for u in out["users"]] == ["platform-prod-ha"]
    assert out["contexts"] == [{"context": {"cluster": "platform-prod-ha", "user": "platform-prod-ha"},
                                "name": "platform-prod-ha"}]
    assert out["current-context"] == "platform-prod-ha"
    # Credentials and the CA are carried over untouched.
    src = yaml.safe_load(k3s_kubeconfig())
    assert out["users"][0]["user"] == src["users"][0]["user"]
    assert out["clusters"][0]["cluster"]["certificate-authority-data"] == \
        src["clusters"][0]["cluster"]["certificate-authority-data"]


@pytest.mark.parametrize(("endpoint", "url"), [
    ("2001:db8::10", "https://[2001:db8::10]:6443"),
    ("k8s.example.com", "https://k8s.example.com:6443"),
])
def test_kubeconfig_rewrite_endpoints(endpoint: str, url: str) -> None:
    out = yaml.safe_load(render.rewrite_kubeconfig(k3s_kubeconfig("https://[::1]:6443"), endpoint, "x"))
    assert out["clusters"][0]["cluster"]["server"] == url
    assert n.api_url(endpoint) == url


def test_kubeconfig_rewrite_touches_only_the_current_contexts_cluster() -> None:
    doc = yaml.safe_load(k3s_kubeconfig())
    doc["clusters"].append({"name": "other", "cluster": {"server": "https://10.0.0.1:6443"}})
    doc["contexts"].append({"name": "other", "context": {"cluster": "other", "user": "default"}})
    out = yaml.safe_load(render.rewrite_kubeconfig(yaml.safe_dump(doc), "198.51.100.11", "platform"))
    servers = {c["name"]: c["cluster"]["server"] for c in out["clusters"]}
    assert servers == {"platform": "https://198.51.100.11:6443", "other": "https://10.0.0.1:6443"}


@pytest.mark.parametrize(("text", "fragment"), [
    ("not: [a, kubeconfig", None),
    ("kind: Pod\n", "not a kubeconfig"),
    ("kind: Config\nclusters: []\nusers: []\ncontexts: []\n", "current context None is not defined"),
    (k3s_kubeconfig().replace("cluster: default", "cluster: gone"), "names cluster 'gone'"),
])
def test_kubeconfig_rewrite_refuses_what_it_cannot_rewrite(text: str, fragment: str | None) -> None:
    with pytest.raises((render.KubeconfigError, yaml.YAMLError)) as e:
        render.rewrite_kubeconfig(text, "198.51.100.11", "platform")
    if fragment:
        assert fragment in str(e.value)


def test_kubeconfig_read_back_from_the_step_script(tmp_path: Path) -> None:
    # The real step script (with the step library) prints what extract_kubeconfig reads back.
    from components.remote import STEP_LIB
    from scripts.program import DRY_K3S_KUBECONFIG

    (tmp_path / "lib.sh").write_text(STEP_LIB.read_text())
    kc = tmp_path / "k3s.yaml"
    kc.write_text(DRY_K3S_KUBECONFIG)
    script = Path(render.__file__).parents[1] / "host" / "kubeconfig.sh"
    p = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "STEP_DIR": str(tmp_path), "KUBECONFIG_FILE": str(kc)})
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1] == "platform-step: unchanged"
    assert render.extract_kubeconfig(p.stdout) == DRY_K3S_KUBECONFIG
    with pytest.raises(render.KubeconfigError, match="markers missing"):
        render.extract_kubeconfig("platform-step: unchanged\n")
    with pytest.raises(render.KubeconfigError, match="not base64"):
        render.extract_kubeconfig("platform-kubeconfig-begin\n!!!\nplatform-kubeconfig-end\n")


def test_addon_data() -> None:
    from components.k3s.render import addons as a

    assert a.metallb_cidrs("10.0.0.1-10.0.0.6") == ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
    s = settings("prod-ha")
    # Edge VMs (a proxy in front) are trusted too, when there are any.
    edge = [f"{h.private_ip}/32" for h in s.hosts["edge"]]
    assert set(edge) <= set(a.trusted_proxies(s))
    # Every chart pinned to an exact version, from an https repository, in its own namespace.
    for chart in a.CHARTS:
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", chart.version) and chart.repo.startswith("https://")
    assert len({c.namespace for c in a.CHARTS}) == len(a.CHARTS)


def test_drain_and_uncordon_act_only_on_an_upgrade(tmp_path: Path) -> None:
    # The real step script against a `k3s` that answers as a node on v1.35 (or no node at all) and
    # records the kubectl calls it gets.
    from components.remote import STEP_LIB

    (tmp_path / "lib.sh").write_text(STEP_LIB.read_text())
    calls = tmp_path / "calls"
    fake = tmp_path / "k3s"
    fake.write_text(f"""#!/bin/sh
echo "$*" >> {calls}
case "$*" in
  *"get node"*kubeletVersion*) [ -n "$NODE_VERSION" ] && printf %s "$NODE_VERSION" || exit 1 ;;
  *"get node"*unschedulable*) printf %s "$UNSCHEDULABLE" ;;
esac
""")
    fake.chmod(0o755)
    script = Path(render.__file__).parents[1] / "host" / "drain.sh"

    def run(mode: str, node_version: str, unschedulable: str = "") -> tuple[str, list[str]]:
        calls.write_text("")
        p = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30, env={
            **os.environ, "STEP_DIR": str(tmp_path), "K3S_BIN": str(fake), "MODE": mode, "NODE": "k3s-4",
            "VERSION": "v1.36.1+k3s1", "DRAIN_TIMEOUT": "600", "NODE_VERSION": node_version,
            "UNSCHEDULABLE": unschedulable})
        assert p.returncode == 0, p.stderr
        return p.stdout.splitlines()[-1], [c.split()[1] for c in calls.read_text().splitlines()]

    status, verbs = run("drain", "v1.35.4+k3s1")
    assert verbs == ["get", "cordon", "drain"] and "drained k3s-4 (v1.35.4+k3s1 -> v1.36.1+k3s1)" in status
    assert run("drain", "v1.36.1+k3s1") == ("platform-step: unchanged", ["get"])  # already there
    assert run("drain", "") == ("platform-step: unchanged", ["get"])  # not a node yet (first apply)
    status, verbs = run("uncordon", "v1.36.1+k3s1", "true")
    assert verbs == ["get", "get", "uncordon"] and "uncordoned k3s-4" in status
    assert run("uncordon", "v1.36.1+k3s1", "")[1] == ["get", "get"]
