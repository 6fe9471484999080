"""The buckets' policies in effect on the lab's S3 server, as the lab's mock applied them from the
program's pulumi-aws resources: each bucket's lifecycle rules read back equal to
components/storage_rules.py, the public access block, and versioning really keeping the previous
version of a Nextcloud object (moto stores lifecycle rules but does not run them: their effect
over days is not shown here)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from components.catalog import contracts
from components.storage_rules import lifecycle_rules, policies
from scripts.drills.common import Lab
from scripts.lablib.s3 import client

pytestmark = pytest.mark.integration


def test_bucket_policies_on_the_lab_s3(lab_up: dict[str, Any]) -> None:
    s = Lab("lab").settings
    s3 = client()
    for policy in policies(s, contracts(s)).values():
        rules = s3.get_bucket_lifecycle_configuration(Bucket=policy.name)["Rules"]
        assert sorted(rules, key=lambda r: r["ID"]) == sorted(lifecycle_rules(policy), key=lambda r: str(r["ID"]))
        pab = s3.get_public_access_block(Bucket=policy.name)["PublicAccessBlockConfiguration"]
        assert pab == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                       "RestrictPublicBuckets": True}
        assert s3.get_bucket_versioning(Bucket=policy.name).get("Status") == \
            ("Enabled" if policy.versioning else None), policy.name


def test_nextcloud_bucket_keeps_previous_versions(lab_up: dict[str, Any]) -> None:
    s = Lab("lab").settings
    s3 = client()
    bucket, key = s.s3.buckets.nextcloud, f"urn:oid:versioning-test-{os.getpid()}"
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=b"v1")
        s3.put_object(Bucket=bucket, Key=key, Body=b"v2")
        s3.delete_object(Bucket=bucket, Key=key)
        listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
        bodies = sorted(s3.get_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])["Body"].read()
                        for v in listed.get("Versions", []))
        # A deleted file of Nextcloud is a delete marker over its versions, recoverable until the
        # noncurrent versions expire (s3.nextcloudNoncurrentDays).
        assert bodies == [b"v1", b"v2"] and len(listed.get("DeleteMarkers", [])) == 1
    finally:
        listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
        for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])
