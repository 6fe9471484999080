"""The AppStack verify lines' judgements on API-shaped documents (no cluster ran here), and the
lab's SKIP with the reason."""

from __future__ import annotations

from components.apps import checks
from components.checks import FAIL, PASS, SKIP, Context
from tests.unit.helpers import settings


def test_router_endpoints() -> None:
    s = settings("prod-ha")
    doc = {"items": [{"metadata": {"name": name}, "subsets": [{"addresses": [{"ip": "10.42.0.5"}]}]}
                     for name in ("postgres-rw", "postgres-ro", "redis-master")]
           + [{"metadata": {"name": "mariadb-rw"}, "subsets": [{"notReadyAddresses": [{"ip": "10.42.0.6"}]}]}]}
    rows = {r.subject: r.status for r in checks.endpoint_rows(s, doc)}
    assert rows == {"platform/postgres-rw": PASS, "platform/postgres-ro": PASS, "platform/redis-master": PASS,
                    "platform/mariadb-rw": FAIL}


def test_cronjobs() -> None:
    now = 1_800_000_000.0
    doc = {"items": [
        {"metadata": {"name": "a"}, "status": {"lastSuccessfulTime": "2027-01-15T07:50:00Z"}},
        {"metadata": {"name": "b"}, "status": {}},
        {"metadata": {"name": "c"}, "status": {"lastSuccessfulTime": "2027-01-14T00:00:00Z"}},
    ]}
    rows = {r.subject: r.status for r in checks.cronjob_rows(doc, ["a", "b", "c", "d"], now)}
    assert rows == {"a": PASS, "b": FAIL, "c": FAIL, "d": FAIL}


def test_nextcloud_status() -> None:
    good = checks.nextcloud_rows('{"installed":true,"maintenance":false,"versionstring":"34.0.2"}',
                                 "\\OC\\Files\\ObjectStore\\S3\n")
    assert [r.status for r in good] == [PASS, PASS]
    assert [r.status for r in checks.nextcloud_rows('{"installed":false}', "")] == [FAIL, FAIL]
    assert checks.nextcloud_rows("Nextcloud is not installed", "")[0].status == FAIL


def test_health() -> None:
    assert checks.health_rows("odoo", "u", "200", "0")[0].status == PASS
    assert checks.health_rows("odoo", "u", "200", "20")[0].status == FAIL  # certificate not verified
    assert checks.health_rows("odoo", "u", "503", "0")[0].status == FAIL


def test_lab_skips_with_the_reason() -> None:
    ctx = Context(settings=settings("lab"), outputs={}, ssh_argv=lambda h: ["false"])
    for fn in (checks.health, checks.router_endpoints, checks.nextcloud_status, checks.pods_ready, checks.mautic_cron):
        rows = fn(ctx)
        assert [r.status for r in rows] == [SKIP] and "k3s.enabled is false" in rows[0].evidence
