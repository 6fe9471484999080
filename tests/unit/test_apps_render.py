"""The apps' renderers (components/apps/render/), directly: each app's own configuration file
checked by its real tool where one installs (PHP evaluates the rendered PHP; HAProxy checks the
in-cluster router config), the wiring every app must carry (router Services only, TLS to the
data tier, its Redis key prefix, its pool mode), and the objects' shape."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.apps import names as n
from components.apps.render import keycloak, kube, mautic, nextcloud, odoo, router
from components.apps.render import objects as all_objects
from components.catalog import contracts
from components.plan import placeholder
from components.postgres.render.pgbouncer import render_pgbouncer
from components.redis.names import key_prefix, sentinel_addresses
from components.router import render as router_render
from components.settings import Settings, parse_settings
from tests.unit.helpers import config, settings

PHP = shutil.which("php")
needs_php = pytest.mark.skipif(PHP is None, reason="php8.2-cli is required (scripts/setup)")


def with_keys(stack: str, keys: dict[str, Any]) -> Settings:
    """The stack's settings with dotted keys (`redis.downAfterMs`) set."""
    cfg = config(stack)
    for dotted, value in keys.items():
        node = cfg
        *parents, leaf = dotted.split(".")
        for p in parents:
            node[p] = dict(node.get(p) or {})
            node = node[p]
        node[leaf] = value
    return parse_settings(cfg, stack)


def eval_php(path: Path, env: dict[str, str]) -> dict[str, Any]:
    p = subprocess.run(["php", "-r", f"include {json.dumps(str(path))}; echo json_encode($CONFIG);"],
                       capture_output=True, text=True, env={**os.environ, **env}, timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("stack", ["mvp", "prod-ha"])
def test_router_services_match_the_router_listeners(stack: str) -> None:
    s = settings(stack)
    cfg = router.config_secret(s, contracts(s)).data["haproxy.cfg"]
    assert isinstance(cfg, kube.Template)
    for svc in n.router_services(s):
        assert f"bind :{svc.target}\n" in cfg.text, svc
        assert router_render.K3S_SERVICES[svc.target] == (svc.name, svc.port)
    # Every listener secret of the config has its source (the Redis health check password).
    assert set(cfg.refs) == {name for name in cfg.refs if placeholder(name) in cfg.text} and cfg.refs


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed")
def test_in_cluster_router_config_passes_haproxy_check(tmp_path: Path) -> None:
    s = settings("prod-ha")
    cfg = router.config_secret(s, contracts(s)).data["haproxy.cfg"]
    assert isinstance(cfg, kube.Template)
    ca = tmp_path / "ca.pem"
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", str(tmp_path / "k"), "-out", str(ca), "-days", "1", "-subj", "/CN=t"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    text = kube.secret_data(router.config_secret(s, contracts(s)), lambda _src: "pw")["haproxy.cfg"]
    assert "daemon" not in text and "log stdout" in text
    (tmp_path / "haproxy.cfg").write_text(text.replace(router_render.CA_FILE, str(ca)))
    check = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True,
                           env={**os.environ, "PLATFORM_PRIVATE_IP": "127.0.0.1"})
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_changed_router_config_rolls_the_pods() -> None:
    s = settings("prod-ha")
    before = router.objects(s, contracts(s), "ca")[0]
    after = router.objects(with_keys("prod-ha", {"redis.downAfterMs": 4000}), contracts(s), "ca")[0]
    other_ca = router.objects(s, contracts(s), "other")[0]
    key = ("spec", "template", "metadata", "annotations", n.CHECKSUM_ANNOTATION)

    def get(o: dict[str, Any]) -> str:
        for k in key:
            o = o[k]
        return o  # type: ignore[return-value]
    assert get(before) == get(router.objects(s, contracts(s), "ca")[0])
    assert get(other_ca) != get(before)
    # The Redis listener's config is unchanged by downAfterMs: same checksum; a new database
    # server (another listener line) changes it.
    assert get(after) == get(before)
    pg = [dict(h) for h in config("prod-ha")["hosts"]["postgres"]]
    grown = with_keys("prod-ha", {"hosts.postgres": [*pg, {"name": "db-9", "privateIp": "10.0.1.99"}],
                                  "postgres.etcdWitness": "none"})
    assert get(router.objects(grown, contracts(grown), "ca")[0]) != get(before)


def test_router_deployment_shape() -> None:
    s = settings("prod-ha")
    dep, pdb, *rest = router.objects(s, contracts(s), "ca")
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    assert pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    c = pod["containers"][0]
    assert c["readinessProbe"]["httpGet"]["port"] == n.ROUTER_STATS_PORT
    assert c["securityContext"]["readOnlyRootFilesystem"] is True and c["securityContext"]["runAsNonRoot"]
    assert pdb["kind"] == "PodDisruptionBudget"
    services = {o["metadata"]["name"]: o for o in rest if o["kind"] == "Service"}
    assert set(services) == {"postgres-rw", "postgres-ro", "redis-master", "mariadb-rw"}
    assert services["postgres-rw"]["spec"]["ports"][0] == {"name": "tcp", "port": 5432, "targetPort": 5000,
                                                           "protocol": "TCP"}
    no_mariadb = with_keys("prod-ha", {"apps.mautic.enabled": False, "mariadb.enabled": False})
    assert "mariadb-rw" not in {o["metadata"]["name"] for o in router.objects(no_mariadb, contracts(no_mariadb), "x")}


def test_odoo_conf() -> None:
    s = settings("prod-ha")
    text = odoo.render_conf(s)
    opts = dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)
    assert opts["db_host"] == n.POSTGRES_RW.host() and opts["db_port"] == "5432"
    assert opts["proxy_mode"] == "True" and opts["list_db"] == "False" and opts["dbfilter"] == "^odoo$"
    assert opts["db_sslmode"] == "verify-ca" and opts["gevent_port"] == str(odoo.GEVENT_PORT)
    assert opts["db_password"] == placeholder(odoo.SECRET_DB) and opts["admin_passwd"] == placeholder(odoo.SECRET_ADMIN)
    assert int(opts["workers"]) >= 2  # the websocket needs the gevent worker: only with workers > 0
    spec = odoo.secret(s)
    conf = spec.data["odoo.conf"]
    assert isinstance(conf, kube.Template) and set(conf.refs) == {odoo.SECRET_DB, odoo.SECRET_ADMIN}
    # Its bus and its database stay in session mode (LISTEN/NOTIFY); PgBouncer serves the bus's.
    assert s.postgres.pool_mode_overrides.get("odoo", s.postgres.pool_mode) == "session"
    ini = render_pgbouncer(s, s.hosts["postgres"][0])
    assert f"\n{odoo.BUS_DATABASE} = " in ini and f"dbname={odoo.BUS_DATABASE} pool_mode=session" in ini
    ing = next(o for o in odoo.objects(s) if o["kind"] == "Ingress")
    paths = {p["path"]: p["backend"]["service"]["port"]["number"] for p in ing["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/websocket": odoo.GEVENT_PORT, "/": odoo.HTTP_PORT}


@needs_php
def test_nextcloud_config_evaluates_in_php(tmp_path: Path) -> None:
    s = settings("prod-ha")
    path = tmp_path / "platform.config.php"
    path.write_text(nextcloud.render_config(s))
    lint = subprocess.run(["php", "-l", str(path)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    cfg = eval_php(path, {nextcloud.ENV_REDIS_PASSWORD: "r-pw", nextcloud.ENV_S3_KEY: "ak",
                          nextcloud.ENV_S3_SECRET: "sk"})
    assert cfg["memcache_customprefix"] == key_prefix("nextcloud")
    assert cfg["redis"] == {"host": n.REDIS_MASTER.host(), "port": 6379, "user": "nextcloud", "password": "r-pw",
                            "timeout": 1.5, "read_timeout": 1.5}
    assert cfg["memcache.locking"] == "\\OC\\Memcache\\Redis"
    a = cfg["objectstore"]["arguments"]
    assert (a["bucket"], a["use_path_style"], a["use_ssl"], a["key"], a["secret"]) == \
        (s.s3.buckets.nextcloud, True, True, "ak", "sk")
    assert cfg["trusted_domains"] == [s.apps.get("nextcloud").hostname] and cfg["overwriteprotocol"] == "https"
    assert cfg["pgsql_ssl"] == {"mode": "verify-ca", "rootcert": n.CA_FILE}
    assert nextcloud.session_prefix().startswith(key_prefix("nextcloud"))
    assert f"prefix={nextcloud.session_prefix()}" in nextcloud.render_session_ini()


def test_nextcloud_objects() -> None:
    s = settings("prod-ha")
    objs = nextcloud.objects(s)
    kinds = [o["kind"] for o in objs]
    assert {"Job", "CronJob", "Deployment", "PersistentVolumeClaim", "Ingress"} <= set(kinds)
    cron = next(o for o in objs if o["kind"] == "CronJob")
    assert cron["spec"]["schedule"] == "*/5 * * * *" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    dep = next(o for o in objs if o["kind"] == "Deployment")
    probe = dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
    assert probe["path"] == "/status.php"
    assert probe["httpHeaders"] == [{"name": "Host", "value": "nextcloud.example.com"}]
    job = next(o for o in objs if o["kind"] == "Job")
    assert n.IMAGES["nextcloud"].tag.replace(".", "-") in job["metadata"]["name"]  # a new image: a new Job


@needs_php
def test_mautic_files(tmp_path: Path) -> None:
    s = settings("prod-ha")
    path = tmp_path / "security_local.php"
    path.write_text(mautic.render_security_local())
    lint = subprocess.run(["php", "-l", str(path)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    params = json.loads(kube.secret_data(mautic.secret(s), lambda _src: "pw")["config-parameters"])
    redis = params["cache_adapter_redis"]
    assert redis["dsn"] == [f"tcp://{a}" for a in sentinel_addresses(s)]
    assert redis["options"] == {"replication": "sentinel", "service": s.redis.master_name,
                                "parameters": {"username": "mautic", "password": "pw"}}
    # Symfony's cache namespace joins with ':' and refuses ':' in it: keys are `mautic:<id>`.
    assert f"{params['cache_prefix']}:" == key_prefix("mautic") and ":" not in params["cache_prefix"]
    assert params["site_url"] == "https://mautic.example.com"
    cron = {o["metadata"]["name"]: o["spec"]["schedule"] for o in mautic.objects(s) if o["kind"] == "CronJob"}
    assert cron == {f"mautic-{k}": v[1] for k, v in mautic.CRON_JOBS.items()}
    roles = {o["metadata"]["name"] for o in mautic.objects(s) if o["kind"] == "Deployment"}
    assert roles == {"mautic-web", "mautic-worker"}


def test_keycloak_settings() -> None:
    s = settings("prod-ha")
    env = keycloak.env_values(s)
    assert env["KC_HOSTNAME"] == "https://keycloak.example.com" and env["KC_PROXY_HEADERS"] == "xforwarded"
    assert env["KC_DB_URL"].startswith(f"jdbc:postgresql://{n.POSTGRES_RW.host()}:5432/keycloak?sslmode=verify-ca")
    objs = keycloak.objects(s)
    svc = next(o for o in objs if o["kind"] == "Service")
    assert [p["port"] for p in svc["spec"]["ports"]] == [keycloak.HTTP_PORT]  # no management port
    dep = next(o for o in objs if o["kind"] == "Deployment")
    assert dep["spec"]["replicas"] == 2 and any(o["kind"] == "PodDisruptionBudget" for o in objs)
    assert next(o for o in keycloak.objects(settings("mvp")) if o["kind"] == "Deployment")["spec"]["replicas"] == 1


@pytest.mark.parametrize("stack", ["mvp", "prod-ha"])
def test_every_app_reaches_the_data_tier_only_through_the_router(stack: str) -> None:
    s = settings(stack)
    vm_ips = {h.private_ip for h in s.hosts.all()}
    for group, objs in all_objects(s, contracts(s), "x").items():
        text = json.dumps(objs)
        for ip in vm_ips - {h.private_ip for h in s.hosts["redis"]} if group == "mautic" else vm_ips:
            assert ip not in text, (group, ip)  # Mautic alone asks the Sentinels (on the Redis VMs)
        for o in objs:
            if o["kind"] != "NetworkPolicy":
                continue
            assert o["metadata"]["namespace"] in (group, n.PLATFORM_NAMESPACE)
        if group != "router":
            names = {o["metadata"]["name"] for o in objs if o["kind"] == "NetworkPolicy"}
            assert {"default-deny", "from-traefik", "egress"} <= names


@pytest.mark.parametrize("stack", ["mvp", "prod-ha"])
def test_no_literal_secret_in_any_container_env(stack: str) -> None:
    s = settings(stack)
    for objs in all_objects(s, contracts(s), "x").values():
        for o in objs:
            spec = o.get("spec", {})
            pod = (spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
                   or spec.get("template", {}).get("spec"))
            if not pod:
                continue
            for c in pod["containers"]:
                for e in c.get("env", []):
                    if any(w in e["name"] for w in ("PASSWORD", "SECRET", "_KEY", "PARAMETERS")):
                        assert "valueFrom" in e, (o["metadata"]["name"], e["name"])


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is required")
def test_job_scripts_pass_shellcheck(tmp_path: Path) -> None:
    for name, text in (("nextcloud-install.sh", nextcloud.install_script(settings("prod-ha"))),
                       ("odoo-init.sh", odoo.init_script())):
        path = tmp_path / name
        path.write_text("#!/bin/sh\n" + text + "\n")
        p = subprocess.run(["shellcheck", "-s", "sh", str(path)], capture_output=True, text=True)
        assert p.returncode == 0, p.stdout
