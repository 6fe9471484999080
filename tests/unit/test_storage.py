"""The buckets' policies (components/storage_rules.py) as pure data, their registration under
mocks, and the lab mock's translation of pulumi-aws inputs to S3's API (applied to moto)."""

from __future__ import annotations

from typing import Any

import pytest

from components.catalog import contracts
from components.storage_rules import covers, lifecycle_rules, policies
from scripts.program import run_program, unwrap
from tests.unit.helpers import STACKS, config, settings
from tests.unit.test_settings_refusals import refused


def prefixes(stack: str) -> dict[str, str]:
    """Purpose keyword -> the prefix its component declared in the backups bucket."""
    s = settings(stack)
    return {u.purpose.split()[0]: u.prefix for c in contracts(s) for u in c.buckets if u.bucket == "backups"}


@pytest.mark.parametrize("stack", STACKS)
def test_no_lifecycle_rule_touches_pgbackrest(stack: str) -> None:
    # pgBackRest expires backups together with the WAL they need; an age rule would delete WAL
    # that the oldest kept backup (or a point-in-time restore) still needs.
    s = settings(stack)
    backups = policies(s, contracts(s))["backups"]
    pg = prefixes(stack)["pgBackRest"]
    assert pg.startswith("pgbackrest/")
    assert [r.id for r in backups.rules if covers(r, pg)] == []


@pytest.mark.parametrize("stack", ["mvp", "prod-ha"])
def test_tools_that_prune_themselves_get_no_rule(stack: str) -> None:
    s = settings(stack)
    backups = policies(s, contracts(s))["backups"]
    owners = {k: v for k, v in prefixes(stack).items() if k in ("K3s", "Loki's")}
    assert "K3s" in owners
    for prefix in owners.values():
        assert [r.id for r in backups.rules if covers(r, prefix)] == []


def test_backup_prefixes_expire_after_their_retention_and_the_margin() -> None:
    s = settings("prod-ha")
    rules = {r.prefix: r for r in policies(s, contracts(s))["backups"].rules}
    margin = s.s3.lifecycle_margin_days
    assert rules["redis/platform/"].expire_days == s.redis.backup_retention_days + margin
    mariadb = next(p for p in rules if p.startswith("mariadb/"))
    assert rules[mariadb].expire_days == s.mariadb.retention_days + margin
    assert set(rules) == {"redis/platform/", mariadb}


def test_nextcloud_is_versioned_and_forgets_old_versions() -> None:
    s = settings("prod-ha")
    p = policies(s, contracts(s))
    assert p["nextcloud"].versioning and not p["backups"].versioning and not p["appBackups"].versioning
    assert lifecycle_rules(p["nextcloud"]) == [{
        "ID": "nextcloud-versions", "Status": "Enabled", "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]
    assert lifecycle_rules(p["appBackups"])[0]["Expiration"] == {"Days": 30}


def by_type(stack: str, cfg: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for x in run_program(stack, cfg).records:
        if x.type.startswith("aws:s3/"):
            out.setdefault(x.type.rsplit(":", 1)[1], []).append({"name": x.name, **unwrap(x.inputs),
                                                                "deps": x.dependencies})
    return out


def test_registered_policies() -> None:
    got = by_type("prod-ha", config("prod-ha"))
    assert [x["name"] for x in got["BucketVersioning"]] == ["bucket-nextcloud-versioning"]
    assert sorted(x["name"] for x in got["BucketLifecycleConfiguration"]) == [
        "bucket-appBackups-lifecycle", "bucket-backups-lifecycle", "bucket-nextcloud-lifecycle"]
    assert len(got["BucketPublicAccessBlock"]) == 3 and "BucketServerSideEncryptionConfiguration" not in got
    for x in got["BucketLifecycleConfiguration"]:
        assert any(d.endswith(x["name"].removesuffix("-lifecycle")) for d in x["deps"]), x["deps"]
    cfg = config("prod-ha")
    cfg["s3"] = {**cfg["s3"], "serverSideEncryption": "AES256", "blockPublicAccess": False}
    got = by_type("prod-ha", cfg)
    assert "BucketPublicAccessBlock" not in got
    enc = got["BucketServerSideEncryptionConfiguration"]
    assert {x["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] for x in enc} == {"AES256"}


def test_bad_storage_config_is_refused() -> None:
    cfg = config("prod-ha")
    cfg["s3"] = {**cfg["s3"], "serverSideEncryption": "aws:kms"}
    refused(cfg, "s3.serverSideEncryption", "AES256")
    cfg = config("prod-ha")
    cfg["s3"] = {**cfg["s3"], "nextcloudNoncurrentDays": 0}
    refused(cfg, "s3.nextcloudNoncurrentDays")


def test_the_lab_mock_puts_what_pulumi_aws_would() -> None:
    """The lab mock's provider part (LabMocks._put_policy / _delete_policy) against an S3 server
    (moto, in process): pulumi-aws's inputs are accepted and read back equal to the rules in S3's
    shape; deleting takes them off again."""
    import boto3
    from moto import mock_aws

    from scripts.lablib.apply import POLICIES, LabMocks

    s = settings("lab")
    want = {p.name: p for p in policies(s, contracts(s)).values()}
    records = [x for x in run_program("lab", config("lab")).records if x.type in POLICIES]
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        mock = LabMocks.__new__(LabMocks)
        mock._s3_client = lambda: client  # type: ignore[method-assign]
        mock._log = lambda msg: None  # type: ignore[method-assign]
        for name in want:
            client.create_bucket(Bucket=name)
        for x in records:
            mock._put_policy(x.type, unwrap(x.inputs))
        for name, policy in want.items():
            rules = client.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
            assert sorted(rules, key=lambda r: r["ID"]) == sorted(lifecycle_rules(policy), key=lambda r: str(r["ID"]))
            assert client.get_bucket_versioning(Bucket=name).get("Status") == ("Enabled" if policy.versioning else None)
            assert all(client.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"].values())
        for x in records:
            mock._delete_policy(x.type, unwrap(x.inputs)["bucket"])
        nextcloud = s.s3.buckets.nextcloud
        assert client.get_bucket_versioning(Bucket=nextcloud)["Status"] == "Suspended"
        with pytest.raises(client.exceptions.ClientError):
            client.get_bucket_lifecycle_configuration(Bucket=nextcloud)
