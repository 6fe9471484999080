"""MariaDB for Mautic on the lab for real: the verify lines, and a contract test that talks to the
cluster through the router as Mautic does (TLS, its user and database) and checks what Mautic
relies on: tables with primary keys work and replicate to every node, AUTO_INCREMENT counts 1, 2,
3 (Mautic's installer expects its first role to get id 1), a table without a primary key is refused
(Galera would replicate its DELETEs wrongly), and a plain-text login is refused. Then the drills.

The file sorts after the PostgreSQL and platform drills on purpose: its drills kill and cut off
database VMs, which also host PostgreSQL, and the PostgreSQL drills should start from a cluster
that has not just failed over (PostgresCrashed does not judge a node that was down 5 minutes ago)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import pymysql
import pytest

from components.mariadb import names as n
from scripts.lablib.api import ssh_run
from tests.integration.test_pg_drills import ROOT, drill, run_json
from tests.unit.helpers import settings

# Off in the lab stack until a full-cluster power loss recovers by itself (Pulumi.lab.yaml).
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not settings("lab").mariadb.enabled,
                                 reason="mariadb.enabled is false in the lab stack")]


def test_verify_mariadb_group(lab_up: dict[str, Any]) -> None:
    rc, lines, out = run_json([str(ROOT / "scripts/verify"), "--stack", "lab", "--group", "mariadb"], 300)
    assert rc == 0, out
    assert lines[-1]["failed"] == 0 and lines[-1]["passed"] >= 8, out


def _outputs() -> dict[str, Any]:
    """The lab's stack outputs, secrets included (as scripts/verify and the drills read them)."""
    from scripts.verify import make_context

    return make_context("lab", None, None).outputs


def _connect(outputs: dict[str, Any], ca: str, **kw: Any) -> pymysql.connections.Connection[Any]:
    cred = outputs["mariadbMautic"]
    host, port = outputs["mariadbRouter"].rsplit(":", 1)
    return pymysql.connect(host=host, port=int(port), user=cred["user"], password=cred["password"],
                           database=cred["database"], connect_timeout=5, read_timeout=10, autocommit=True,
                           **({"ssl": {"ca": ca, "check_hostname": False}} | kw))


def test_mautic_contract_through_the_router(lab_up: dict[str, Any]) -> None:
    outputs = _outputs()
    ca = ssh_run("198.18.0.11", f"sudo cat {n.TLS_DIR}/ca.crt", timeout=20).stdout
    table = f"platform_contract_{uuid.uuid4().hex[:8]}"
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(ca)
        f.flush()
        conn = _connect(outputs, f.name)
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE TABLE {table} (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64)) "
                            "ENGINE=InnoDB")
                for i in range(3):
                    cur.execute(f"INSERT INTO {table} (note) VALUES (%s)", (f"row {i}",))
                cur.execute(f"SELECT id FROM {table} ORDER BY id")
                assert [r[0] for r in cur.fetchall()] == [1, 2, 3]
                # wsrep_mode=REQUIRED_PRIMARY_KEY: the CREATE TABLE itself is refused, error 4165
                # ER_GALERA_REPLICATION_NOT_SUPPORTED ("Galera replication not supported").
                with pytest.raises(pymysql.MySQLError) as refused:
                    cur.execute(f"CREATE TABLE {table}_nopk (note VARCHAR(64)) ENGINE=InnoDB")
                assert refused.value.args[0] == 4165, refused.value
            # Every node has the rows (Galera: committed everywhere before the INSERT returned).
            for ip in ("198.18.0.11", "198.18.0.12"):
                p = ssh_run(ip, f"sudo mariadb -N -B -e 'SELECT COUNT(*) FROM {n.DATABASE}.{table}'", timeout=20)
                assert p.stdout.strip() == "3", (ip, p.stdout, p.stderr)
        finally:
            with conn.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {table}")
                cur.execute(f"DROP TABLE IF EXISTS {table}_nopk")
            conn.close()
    # Without TLS the server refuses the login (the user requires TLS, and so does the server), not the router.
    # (PyMySQL speaks TLS whenever the server offers it unless told not to.)
    with pytest.raises(pymysql.MySQLError) as plain:
        _connect(outputs, "", ssl=None, ssl_disabled=True).close()
    # 1045: the user REQUIRE SSL (checked first); 3159: require_secure_transport.
    assert plain.value.args[0] in (1045, 3159), plain.value


def test_mariadb_node_death(lab_up: dict[str, Any]) -> None:
    run, summary = drill("mariadb-node-death", timeout=600)
    assert summary["acked_lost_total"] == 0, run
    assert run["seconds"] is not None and run["seconds"] < 60, run
    assert run["new_writer"] not in (None, run["killed"]) and run["rejoin_seconds"] is not None, run


def test_mariadb_partition(lab_up: dict[str, Any]) -> None:
    run, summary = drill("mariadb-partition", timeout=600)
    assert summary["acked_lost_total"] == 0 and run["split_brain_writes"] == 0, run
    assert run["rejoin_seconds"] is not None and run["new_writer"] != run["cut_off"], run


def test_mariadb_restore(lab_up: dict[str, Any]) -> None:
    run, _ = drill("mariadb-restore", timeout=900)
    assert run["identical"], run


def test_repo_serves_every_mariadb_package() -> None:
    names = set(Path(ROOT / "scripts/lablib/packages.txt").read_text().split())
    assert {"mariadb-server", "mariadb-client", "mariadb-backup", "galera-4", "galera-arbitrator-4",
            "prometheus-mysqld-exporter", "socat"} <= names
