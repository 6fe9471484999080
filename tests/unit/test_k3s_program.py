"""K3sCluster under pulumi.runtime.set_mocks for mvp and prod-ha: the resources per node, the join
order (server 2 after server 1, server 3 after server 2, agents after the last server), and the
join token secret everywhere; in the lab (k3s.enabled false) nothing of it exists."""

from __future__ import annotations

import pytest
import yaml

from scripts.program import Registered, Run, is_secret, run_program, step_bundle, unwrap
from tests.unit.helpers import config, settings

COMPONENT = "platform:k3s:K3sCluster"
SERVERS = {"mvp": ["k3s-1"], "prod-ha": ["k3s-1", "k3s-2", "k3s-3"]}
AGENTS = {"mvp": ["k3s-2", "k3s-3"], "prod-ha": ["k3s-4", "k3s-5"]}
# The add-ons (the example stacks set k3s.metallbRange): release -> what needs its CRDs.
RELEASES = {"cert-manager": ["clusterissuer-letsencrypt-staging", "clusterissuer-letsencrypt-production"],
            "metallb": ["ipaddresspool-platform", "l2advertisement-platform"]}
ADDONS = [*RELEASES, *(c for cs in RELEASES.values() for c in cs), "helmchartconfig-traefik", "kube-state-metrics"]


@pytest.fixture(scope="module", params=["mvp", "prod-ha"])
def run(request: pytest.FixtureRequest) -> tuple[str, Run]:
    stack = request.param
    return stack, run_program(stack, config(stack))


def k3s_records(r: Run) -> dict[str, Registered]:
    return r.children(COMPONENT)


bundle = step_bundle


def test_resources_per_node(run: tuple[str, Run]) -> None:
    stack, r = run
    recs = k3s_records(r)
    nodes = SERVERS[stack] + AGENTS[stack]
    # One step per node with its drain and uncordon (on the first server), the kubeconfig read-back,
    # the token and the provider.
    first = nodes[0]
    assert {n for n, x in recs.items() if x.type == "command:remote:Command"} == \
        {f"{h}-k3s" for h in nodes} | {f"{first}-kubeconfig"} | \
        {f"{first}-{m}-{h}" for h in nodes for m in ("drain", "uncordon")}
    assert [x.name for x in recs.values() if x.type == "random:index/randomPassword:RandomPassword"] == ["k3s-token"]
    assert [x.name for x in recs.values() if x.type == "pulumi:providers:kubernetes"] == ["k3s"]
    kube = {x.name for x in recs.values() if x.type.startswith("kubernetes:")}
    assert kube == set(ADDONS)
    assert len(recs) == 3 * len(nodes) + 3 + len(ADDONS)
    # On each node: its baseline, firewall, journal upload and this step.
    public = {h["publicIp"]: name for name, h in r.plain_outputs()["hosts"].items()}
    per_host: dict[str, list[str]] = {}
    for x in r.records:
        if x.type == "command:remote:Command":
            per_host.setdefault(public[unwrap(x.inputs["connection"])["host"]], []).append(x.name)
    for h in nodes:
        extra = ("kubeconfig", *(f"{m}-{x}" for x in nodes for m in ("drain", "uncordon"))) if h == first else ()
        assert sorted(per_host[h]) == sorted(f"{h}-{s}" for s in ("baseline", "firewall", "journal-upload", "k3s",
                                                                   *extra))


def test_join_order(run: tuple[str, Run]) -> None:
    stack, r = run
    recs = k3s_records(r)
    by_name = {x.name: x for x in r.records}
    by_urn = {x.urn: x for x in r.records}
    servers, agents = SERVERS[stack], AGENTS[stack]
    first = servers[0]

    def after(later: str, earlier: str) -> bool:
        """`earlier` is among `later`'s dependencies, directly or through others."""
        seen, todo = set(), list(by_name[later].dependencies)
        while todo:
            u = todo.pop()
            if u == by_name[earlier].urn:
                return True
            if u not in seen:
                seen.add(u)
                todo += by_urn[u].dependencies if u in by_urn else []
        return False

    for h in servers + agents:
        assert by_name[f"{h}-firewall"].urn in recs[f"{h}-k3s"].dependencies
        # Drained before its step (an upgrade), uncordoned after it.
        assert recs[f"{first}-drain-{h}"].urn in recs[f"{h}-k3s"].dependencies
        assert recs[f"{h}-k3s"].urn in recs[f"{first}-uncordon-{h}"].dependencies
    assert after(f"{first}-k3s", "bucket-backups")  # snapshots go there
    order = servers + agents
    for previous, node in zip(order, order[1:], strict=False):
        # One node at a time: the next is drained only once the previous is back and uncordoned.
        assert recs[f"{first}-uncordon-{previous}"].urn in recs[f"{first}-drain-{node}"].dependencies
        assert after(f"{node}-k3s", f"{previous}-k3s"), f"{node} after {previous}"
    for agent in agents:
        assert after(f"{agent}-k3s", f"{servers[-1]}-k3s")
    assert not any(after(f"{s}-k3s", f"{a}-k3s") for s in servers for a in agents)  # servers first
    drain = bundle(recs[f"{first}-drain-{agents[0]}"])["files/params.env"]
    assert f"MODE=drain\nNODE={agents[0]}\n" in drain and "VERSION=v1.36.1+k3s1\n" in drain
    params = {h: bundle(recs[f"{h}-k3s"])["files/params.env"] for h in servers + agents}
    assert "BOOTSTRAP=1\n" in params[servers[0]]
    assert all("BOOTSTRAP=0\n" in params[h] for h in servers[1:] + agents)
    assert "ROLE=server\n" in params[servers[-1]] and "ROLE=agent\n" in params[agents[0]]
    assert "VERSION=v1.36.1+k3s1\n" in params[agents[0]]


def test_token_is_secret_everywhere(run: tuple[str, Run]) -> None:
    stack, r = run
    recs = k3s_records(r)
    token = recs["k3s-token"]
    assert token.inputs["length"] == 32 and token.inputs["special"] is False
    for h in SERVERS[stack] + AGENTS[stack]:
        x = recs[f"{h}-k3s"]
        assert is_secret(x.inputs["stdin"]), h
        # Never on the command line, in the triggers (what a preview shows), or in a file.
        assert "generated-" not in x.inputs["create"] and "generated-" not in str(x.inputs["triggers"])
        assert x.inputs["logging"] == "none"
        b = bundle(x)
        assert b["secrets/k3s_token"] == "generated-k3s-token"
        assert "token: '{{secret:k3s_token}}'\n" in b["files/config.yaml"]
        for member, text in b.items():
            if member.startswith("files/"):
                assert "generated-" not in text and "placeholder-" not in text, (h, member)
        secrets = {m.removeprefix("secrets/") for m in b if m.startswith("secrets/")}
        # Servers upload etcd snapshots (the S3 pair); agents get the token alone.
        assert secrets == ({"k3s_token", "s3_access_key", "s3_secret_key"} if h in SERVERS[stack] else {"k3s_token"})


def test_outputs(run: tuple[str, Run]) -> None:
    _, r = run
    assert r.outputs["k3sApiEndpoint"] == "https://198.51.100.11:6443"


def test_kubeconfig_read_back_is_secret_rewritten_and_feeds_the_provider(run: tuple[str, Run]) -> None:
    stack, r = run
    recs = k3s_records(r)
    first, last = SERVERS[stack][0], SERVERS[stack][-1]
    step = recs[f"{first}-kubeconfig"]
    # After every server is up; its output (the kubeconfig) secret and never logged.
    assert recs[f"{last}-k3s"].urn in step.dependencies
    assert step.inputs["logging"] == "none"
    assert "stdout" in step.secret_outputs
    assert "platform-kubeconfig-begin" in bundle(step)["step.sh"]
    # The stack output: secret, the server is the API endpoint, the names are the stack's.
    assert is_secret(r.outputs["kubeconfig"])
    kc = yaml.safe_load(unwrap(r.outputs["kubeconfig"]))
    assert kc["clusters"][0]["cluster"]["server"] == r.outputs["k3sApiEndpoint"]
    assert kc["current-context"] == f"platform-{stack}" == kc["users"][0]["name"]
    # One provider, fed that secret kubeconfig, with a fixed cluster identity.
    provider = recs["k3s"]
    assert is_secret(provider.inputs["kubeconfig"])
    assert yaml.safe_load(unwrap(provider.inputs["kubeconfig"])) == kc
    assert provider.inputs["clusterIdentifier"] == f"platform-{stack}"
    assert step.urn in provider.dependencies


def test_lab_has_no_k3s() -> None:
    r = run_program("lab", config("lab"))
    assert not any(x.type == COMPONENT or x.name.endswith("-k3s") or x.name == "k3s-token" for x in r.records)
    assert "k3sApiEndpoint" not in r.outputs
    fw = [step_bundle(x)["files/platform.nft"] for x in r.records
          if x.type == "command:remote:Command" and x.name.endswith("-firewall")]
    assert fw and not any("k3s-api" in t or "metallb" in t or "flannel" in t for t in fw)


def test_addons_use_the_clusters_provider_and_wait_for_their_crds(run: tuple[str, Run]) -> None:
    stack, r = run
    recs = k3s_records(r)
    provider = recs["k3s"]
    for x in r.records:
        if x.type.startswith("kubernetes:"):
            # Never the ambient kubeconfig: every object goes to this cluster.
            assert x.provider.startswith(provider.urn + "::"), (x.name, x.provider)
    for release, customs in RELEASES.items():
        rel = recs[release]
        assert rel.type == "kubernetes:helm.sh/v3:Release"
        assert rel.inputs["version"] and rel.inputs["repositoryOpts"]["repo"].startswith("https://")
        for c in customs:
            assert rel.urn in recs[c].dependencies, f"{c} must wait for {release} (its CRD)"
    assert recs["cert-manager"].inputs["values"]["crds"]["enabled"] is True
    issuer = recs["clusterissuer-letsencrypt-production"].inputs
    assert issuer["apiVersion"] == "cert-manager.io/v1" and issuer["kind"] == "ClusterIssuer"
    acme = issuer["spec"]["acme"]
    assert acme["email"] == settings(stack).acme_email
    assert acme["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert acme["solvers"] == [{"http01": {"ingress": {"ingressClassName": "traefik"}}}]
    assert acme["privateKeySecretRef"]["name"]
    staging = recs["clusterissuer-letsencrypt-staging"].inputs["spec"]["acme"]["server"]
    assert "acme-staging-v02" in staging
    pool = recs["ipaddresspool-platform"].inputs
    assert pool["apiVersion"] == "metallb.io/v1beta1" and pool["metadata"]["namespace"] == "metallb-system"
    assert pool["spec"]["addresses"] == ["198.51.100.200-198.51.100.210"]
    assert recs["l2advertisement-platform"].inputs["spec"]["ipAddressPools"] == ["platform"]
    tc = recs["helmchartconfig-traefik"].inputs
    assert (tc["apiVersion"], tc["kind"], tc["metadata"]) == ("helm.cattle.io/v1", "HelmChartConfig",
                                                              {"name": "traefik", "namespace": "kube-system"})
    values = yaml.safe_load(tc["spec"]["valuesContent"])
    assert values["service"]["spec"]["externalTrafficPolicy"] == "Local"
    assert values["ports"]["web"]["redirections"]["entryPoint"]["to"] == "websecure"
    # 198.51.100.200-210 exactly, as CIDR blocks, trusted for X-Forwarded-* on both entry points.
    assert values["ports"]["websecure"]["forwardedHeaders"]["trustedIPs"][:3] == [
        "198.51.100.200/29", "198.51.100.208/31", "198.51.100.210/32"]


def test_kube_state_metrics_manifests_and_scrape_target(run: tuple[str, Run]) -> None:
    stack, r = run
    recs = k3s_records(r)
    group = recs["kube-state-metrics"]
    assert group.type == "kubernetes:yaml/v2:ConfigGroup"
    assert group.provider.startswith(recs["k3s"].urn + "::")
    objs = {o["kind"]: o for o in group.inputs["objs"]}
    assert set(objs) == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service"}
    # Never Secrets or ConfigMaps: the role would hand its token every secret in the cluster.
    granted = {res for rule in objs["ClusterRole"]["rules"] for res in rule["resources"]}
    assert not granted & {"secrets", "configmaps"} and "pods" in granted
    args = objs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    collectors = set(next(a for a in args if a.startswith("--resources=")).removeprefix("--resources=").split(","))
    assert collectors == granted  # what it collects is exactly what it may list
    svc = objs["Service"]["spec"]
    assert svc["type"] == "NodePort" and svc["ports"][0]["nodePort"] == 30808
    first = SERVERS[stack][0]
    ip = next(h["privateIp"] for name, h in r.plain_outputs()["hosts"].items() if name == first)
    assert r.plain_outputs()["k3sScrapeTargets"] == {"kube_state_metrics": [f"{ip}:30808"]}


def test_a_version_change_touches_exactly_each_nodes_drain_step_and_uncordon() -> None:
    from components.k3s.plan import plan

    def steps(version: str) -> dict[str, tuple[object, ...]]:
        p = plan(settings("prod-ha", k3s={"version": version}))
        return {s.name: (sorted(s.params.items()), sorted((k, str(v)) for k, v in s.files.items()), s.after)
                for s in p.steps}

    old, new = steps("v1.36.1+k3s1"), steps("v1.36.2+k3s1")
    assert set(old) == set(new)
    changed = {name for name in old if old[name] != new[name]}
    nodes = SERVERS["prod-ha"] + AGENTS["prod-ha"]
    assert changed == {f"{h}-k3s" for h in nodes} | {f"k3s-1-{m}-{h}" for h in nodes for m in ("drain", "uncordon")}
