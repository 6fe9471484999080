"""Contract tests: each app's rendered objects (components/apps/render/) against the real lab
data tier, through the lab's router, with the clients the apps use (DESIGN.md 6). K3s and the
app images cannot run here; what breaks apps in production is their wiring, and that is tested:

- Odoo: its bus, LISTEN/NOTIFY on `imbus` in the `postgres` database (psycopg2, as Odoo), with the
  settings of the rendered odoo.conf; received through PgBouncer, and not in transaction mode.
- Keycloak: pgjdbc (Debian's 42.5) with the rendered JDBC URL, a statement reused across
  transactions past prepareThreshold; works in session mode, fails in transaction mode.
- Nextcloud: PDO pgsql with its pgsql_ssl settings, phpredis through the router (no Sentinel) as
  its ACL user in memcache_customprefix, sessions through the rendered ini, a key outside the
  prefix refused; S3 put/get/delete in its bucket with the rendered objectstore settings.
- Mautic: PDO mysql through `mariadb-rw` with the TLS options of its security_local.php (refused
  without them: MariaDB requires TLS), a table created; Predis 1.1.10 through the Sentinels with the
  options of its MAUTIC_CONFIG_PARAMETERS.

The transaction-mode negative controls use the lab's `poolcheck` database (Pulumi.lab.yaml).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.apps import names as n
from components.apps.render import keycloak, mautic, nextcloud, odoo
from components.mariadb import names as mdb
from components.router.render import router_hosts
from scripts.drills.common import Lab
from tests.integration import app_wiring as w

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent / "contracts"
POOLCHECK = "poolcheck"  # transaction-pooled (Pulumi.lab.yaml)
PGJDBC = "/usr/share/java/postgresql.jar"


@pytest.fixture(scope="module")
def lab(lab_up: dict[str, Any]) -> Iterator[Lab]:
    yield Lab("lab")


def run(argv: list[str], stdin: str, env: dict[str, str] | None = None, timeout: float = 60) -> dict[str, Any]:
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})}, check=False)
    assert p.returncode == 0, f"{argv[0]} exited {p.returncode}: {p.stderr[-2000:]}"
    return w.last_json(p.stdout)


def pool_mode(lab: Lab, db: str) -> str:
    pg = lab.settings.postgres
    return pg.pool_mode_overrides.get(db, pg.pool_mode)


# --- Odoo ---

def odoo_settings(lab: Lab, ca: str) -> dict[str, Any]:
    conf = w.ini_options(w.secret_values(lab, odoo.secret(lab.settings))["odoo.conf"])
    host, port = w.router_address(lab, conf["db_host"], int(conf["db_port"]))
    return {"host": host, "port": port, "user": conf["db_user"], "password": conf["db_password"],
            "dbname": conf["db_name"], "bus_dbname": odoo.BUS_DATABASE, "sslmode": conf["db_sslmode"],
            "rootcert": ca}


def test_odoo_bus_listen_notify_through_pgbouncer(lab: Lab) -> None:
    assert pool_mode(lab, odoo.APP) == "session"
    with w.private_dir() as d:
        cfg = odoo_settings(lab, w.ca_file(lab, d))
        got = run(["/usr/bin/python3", str(HERE / "odoo_bus.py")], json.dumps(cfg))
        assert got.get("error") is None, got
        assert got["app_db"] == [odoo.APP, odoo.APP]
        assert got["received"] is True, got
        # The negative control: the same bus on a transaction-pooled database loses the notification.
        pc = lab.outputs["postgresApps"][POOLCHECK]
        bad = run(["/usr/bin/python3", str(HERE / "odoo_bus.py")],
                  json.dumps({**cfg, "user": pc["user"], "password": pc["password"], "dbname": POOLCHECK,
                              "bus_dbname": POOLCHECK}))
        assert bad.get("received") is False, bad


def test_odoo_wrong_secret_is_refused(lab: Lab) -> None:
    with w.private_dir() as d:
        cfg = odoo_settings(lab, w.ca_file(lab, d))
        got = run(["/usr/bin/python3", str(HERE / "odoo_bus.py")],
                  json.dumps({**cfg, "password": lab.outputs["postgresApps"]["keycloak"]["password"]}))
        assert "authentication failed" in got.get("error", ""), got


# --- Keycloak ---

def keycloak_jdbc(lab: Lab, ca: str, database: str | None = None) -> tuple[str, str]:
    env = keycloak.env_values(lab.settings)
    m = re.fullmatch(r"jdbc:postgresql://([^:/]+):(\d+)/([^?]+)\?(.*)", env["KC_DB_URL"])
    assert m, env["KC_DB_URL"]
    host, port = w.router_address(lab, m.group(1), int(m.group(2)))
    query = m.group(4).replace(f"sslrootcert={n.CA_FILE}", f"sslrootcert={ca}")
    return f"jdbc:postgresql://{host}:{port}/{database or m.group(3)}?{query}", env["KC_DB_USERNAME"]


def keycloak_run(url: str, user: str, password: str) -> dict[str, Any]:
    return run(["java", "-cp", PGJDBC, str(HERE / "KeycloakContract.java"), url, user], password + "\n", timeout=120)


def test_keycloak_server_side_prepared_statements_across_transactions(lab: Lab) -> None:
    assert Path(PGJDBC).exists(), "libpostgresql-jdbc-java is required (scripts/setup)"
    assert pool_mode(lab, keycloak.APP) == "session"
    secret = w.secret_values(lab, keycloak.secret())
    with w.private_dir() as d:
        url, user = keycloak_jdbc(lab, w.ca_file(lab, d))
        got = keycloak_run(url, user, secret["postgres-password"])
        assert got == {"rounds": 10, "server_prepare": True, "error": ""}, got
        pc = lab.outputs["postgresApps"][POOLCHECK]
        bad_url, _ = keycloak_jdbc(lab, os.path.join(d, "ca.crt"), POOLCHECK)
        bad = keycloak_run(bad_url, pc["user"], pc["password"])
        assert bad["rounds"] < 10 and "prepared statement" in bad["error"], bad


# --- Nextcloud ---

def php_config(rendered: str, env: dict[str, str], d: str) -> dict[str, Any]:
    """The rendered platform.config.php evaluated by PHP with the container's environment."""
    path = w.write_private(d, "platform.config.php", rendered)
    script = f"include {json.dumps(path)}; echo json_encode($CONFIG), \"\\n\";"
    p = subprocess.run(["php", "-r", script], capture_output=True, text=True, timeout=30,
                       env={**os.environ, **env}, check=False)
    assert p.returncode == 0, p.stderr
    return w.last_json(p.stdout)  # type: ignore[no-any-return]


def nextcloud_inputs(lab: Lab, d: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    objs = nextcloud.objects(lab.settings)
    deploy = w.find(objs, "Deployment", nextcloud.APP)
    env = w.env_of(w.container(deploy, nextcloud.APP), {n.app_secret(nextcloud.APP): nextcloud.secret()}, lab)
    files = w.find(objs, "ConfigMap", f"{nextcloud.APP}-config")["data"]
    return php_config(files["platform.config.php"], env, d), env, files


def test_nextcloud_postgres_redis_and_sessions_as_nextcloud(lab: Lab) -> None:
    with w.private_dir() as d:
        config, env, files = nextcloud_inputs(lab, d)
        ca = w.ca_file(lab, d)
        pg_name, pg_service_port = env["POSTGRES_HOST"].rsplit(":", 1)
        pg_host, pg_port = w.router_address(lab, pg_name, int(pg_service_port))
        rc = config["redis"]
        r_host, r_port = w.router_address(lab, rc["host"], int(rc["port"]))
        # The session ini as mounted, its Service name resolved as the pod's resolver would.
        ini_dir = os.path.join(d, "ini")
        os.mkdir(ini_dir, 0o700)
        ini = files["redis-session.ini"].replace(f"{n.REDIS_MASTER.host()}:{n.REDIS_MASTER.port}", f"{r_host}:{r_port}")
        w.write_private(ini_dir, "zz-platform-redis-session.ini", ini)
        cfg = {
            "pg": {"host": pg_host, "port": pg_port, "dbname": env["POSTGRES_DB"], "user": env["POSTGRES_USER"],
                   "password": env["POSTGRES_PASSWORD"], "sslmode": config["pgsql_ssl"]["mode"],
                   "rootcert": ca},
            "redis": {"host": r_host, "port": r_port, "user": rc["user"], "password": rc["password"],
                      "prefix": config["memcache_customprefix"]},
            "session": True, "session_prefix": nextcloud.session_prefix(),
        }
        scan = f"{os.environ.get('PHP_INI_SCAN_DIR', '/etc/php/8.2/cli/conf.d')}:{ini_dir}"
        got = run(["php", str(HERE / "nextcloud.php")], json.dumps(cfg),
                  env={"PHP_INI_SCAN_DIR": scan, nextcloud.ENV_REDIS_PASSWORD: env[nextcloud.ENV_REDIS_PASSWORD]})
    assert got.get("pg_error") is None and got.get("redis_error") is None, got
    assert got["pg_user"] == nextcloud.APP and got["pg_rows"] == 3, got
    assert got["redis_set"] is True and got["redis_get"] == "v" and got["redis_eval"] == 1, got
    assert got["redis_keys"] == 1, got
    assert "NOPERM" in got["redis_outside"], got
    assert got["session_key"] == 1, got


def test_nextcloud_s3_primary_storage(lab: Lab) -> None:
    import boto3
    from botocore.config import Config

    with w.private_dir() as d:
        config, _, _ = nextcloud_inputs(lab, d)
        a = config["objectstore"]["arguments"]
        assert config["objectstore"]["class"] == "\\OC\\Files\\ObjectStore\\S3"
        scheme = "https" if a["use_ssl"] else "http"
        # The lab's S3 has a private CA (s3.caCertificate); see README "Apps" for Nextcloud and such a CA.
        ca = lab.settings.s3.ca_certificate
        verify: str | bool = w.write_private(d, "s3-ca.crt", ca) if ca else True
        s3 = boto3.client("s3", endpoint_url=f"{scheme}://{a['hostname']}:{a['port']}", region_name=a["region"],
                          aws_access_key_id=a["key"], aws_secret_access_key=a["secret"], verify=verify,
                          config=Config(s3={"addressing_style": "path" if a["use_path_style"] else "virtual"}))
        key = f"urn:oid:contract-{os.getpid()}"
        s3.put_object(Bucket=a["bucket"], Key=key, Body=b"nextcloud")
        assert s3.get_object(Bucket=a["bucket"], Key=key)["Body"].read() == b"nextcloud"
        s3.delete_object(Bucket=a["bucket"], Key=key)
        listed = s3.list_objects_v2(Bucket=a["bucket"], Prefix=key).get("KeyCount", 0)
    assert a["bucket"] == lab.settings.s3.buckets.nextcloud
    assert listed == 0


# --- Mautic ---

def mautic_inputs(lab: Lab) -> tuple[dict[str, str], dict[str, Any]]:
    objs = mautic.objects(lab.settings)
    env = w.env_of(w.container(w.find(objs, "Deployment", "mautic-web"), "web"),
                   {n.app_secret(mautic.APP): mautic.secret(lab.settings)}, lab)
    return env, json.loads(env["MAUTIC_CONFIG_PARAMETERS"])


def mautic_run(lab: Lab, cfg: dict[str, Any]) -> dict[str, Any]:
    from scripts.lablib.api import netns

    # From a router-group address (the Sentinels admit the router and K3s groups, not this machine).
    ns = netns(router_hosts(lab.settings)[0].name)
    return run(["ip", "netns", "exec", ns, "php", str(HERE / "mautic.php")], json.dumps(cfg))


def test_mautic_mariadb_and_redis_through_sentinel(lab: Lab) -> None:
    env, params = mautic_inputs(lab)
    host, port = w.router_address(lab, env["MAUTIC_DB_HOST"], int(env["MAUTIC_DB_PORT"]))
    tls = mautic.render_security_local()
    assert "PDO::MYSQL_ATTR_SSL_CA => '" + n.CA_FILE + "'" in tls
    rc = params["cache_adapter_redis"]
    with w.private_dir() as d:
        ca = w.ca_file(lab, d)
        os.chmod(d, 0o755)  # the php process in the namespace runs as root too; keep the files 0600
        mysql = {"host": host, "port": port, "dbname": env["MAUTIC_DB_DATABASE"], "user": env["MAUTIC_DB_USER"],
                 "password": env["MAUTIC_DB_PASSWORD"], "ssl_ca": ca}
        redis = {"dsn": rc["dsn"], "options": rc["options"], "key_prefix": f"{params['cache_prefix']}:"}
        got = mautic_run(lab, {"mysql": mysql, "redis": redis})
        # Without security_local.php's TLS options MariaDB refuses Mautic (require_secure_transport).
        plain = mautic_run(lab, {"mysql": {**mysql, "ssl_ca": ""}})
    assert got.get("mysql_error") is None and got.get("redis_error") is None, got
    assert got["mysql_read"] == "mautic" and got["mysql_cipher"], got
    assert env["MAUTIC_DB_USER"] == mdb.APP_USER
    assert got["redis_get"] == "v" and got["redis_role"] == "master", got
    assert "NOPERM" in got["redis_outside"], got
    # The same user and password without TLS: refused (the user REQUIREs SSL: "Access denied").
    assert re.search("access denied|secure transport", plain.get("mysql_error", ""), re.I), plain
