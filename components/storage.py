"""S3 buckets on the configured S3-compatible endpoint (pulumi-aws pointed at `s3.endpoint`).

The provider talks path-style (`https://endpoint/bucket`, what MinIO, Ceph RGW and most
S3-compatible stores expect) and skips every AWS-only check (STS credential validation, region
names, account id lookup, EC2 metadata), so any endpoint with an access/secret key pair works.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from components.contract import Contract
from components.settings import Settings
from components.storage_rules import BucketPolicy, LifecycleRule, policies


class Storage(pulumi.ComponentResource):
    """`platform:storage:Storage`: the provider, the three buckets (nextcloud, backups, appBackups)
    and each bucket's versioning, lifecycle rules, public access block and encryption
    (components/storage_rules.py)."""

    provider: aws.Provider
    buckets: dict[str, aws.s3.Bucket]
    bucket_names: dict[str, str]
    backups: aws.s3.Bucket

    def __init__(self, settings: Settings, contracts: Sequence[Contract],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:storage:Storage", "storage", None, opts)
        if settings.secrets is None:
            raise ValueError("settings were parsed without secrets; use load_settings()")
        s3 = settings.s3
        self.provider = aws.Provider(
            "s3",
            region=s3.region,
            access_key=settings.secrets.s3_access_key,
            secret_key=settings.secrets.s3_secret_key,
            s3_use_path_style=True,
            skip_credentials_validation=True,
            skip_region_validation=True,
            skip_requesting_account_id=True,
            skip_metadata_api_check=True,
            endpoints=[aws.ProviderEndpointArgs(s3=s3.endpoint)],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.bucket_names = {
            "nextcloud": s3.buckets.nextcloud,
            "backups": s3.buckets.backups,
            "appBackups": s3.buckets.app_backups,
        }
        self.buckets = {
            key: aws.s3.Bucket(
                f"bucket-{key}", bucket=name, force_destroy=False,
                # A bucket holds data no `pulumi destroy` should take with it.
                opts=pulumi.ResourceOptions(parent=self, provider=self.provider, protect=False,
                                            retain_on_delete=True),
            )
            for key, name in self.bucket_names.items()
        }
        self.backups = self.buckets["backups"]
        for key, policy in policies(settings, contracts).items():
            self._policy(key, policy)
        self.register_outputs({"buckets": {k: b.bucket for k, b in self.buckets.items()},
                               "endpoint": s3.endpoint})

    def _policy(self, key: str, policy: BucketPolicy) -> None:
        bucket = self.buckets[key]
        opts = pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[bucket])
        if policy.versioning:
            aws.s3.BucketVersioning(f"bucket-{key}-versioning", bucket=bucket.bucket,
                                    versioning_configuration={"status": "Enabled"}, opts=opts)
        if policy.rules:
            aws.s3.BucketLifecycleConfiguration(f"bucket-{key}-lifecycle", bucket=bucket.bucket,
                                                rules=[_rule(r) for r in policy.rules], opts=opts)
        if policy.block_public_access:
            aws.s3.BucketPublicAccessBlock(f"bucket-{key}-public-access", bucket=bucket.bucket,
                                           block_public_acls=True, block_public_policy=True,
                                           ignore_public_acls=True, restrict_public_buckets=True, opts=opts)
        if policy.sse:
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"bucket-{key}-encryption", bucket=bucket.bucket,
                rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": policy.sse}}], opts=opts)


def _rule(r: LifecycleRule) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """A rule of components/storage_rules.py as pulumi-aws's (the lab test compares what its S3
    then holds with `lifecycle_rules`, S3's own shape)."""
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=r.id, status="Enabled", filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=r.prefix),
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=r.expire_days)
        if r.expire_days is not None else None,
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=r.noncurrent_days) if r.noncurrent_days is not None else None,
        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=r.abort_multipart_days) if r.abort_multipart_days is not None else None,
    )
