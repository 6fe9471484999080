"""S3 buckets on the configured S3-compatible endpoint (pulumi-aws pointed at `s3.endpoint`).

The provider talks path-style (`https://endpoint/bucket`, what MinIO, Ceph RGW and most
S3-compatible stores expect) and skips every AWS-only check (STS credential validation, region
names, account id lookup, EC2 metadata), so any endpoint with an access/secret key pair works.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.settings import Settings


class Storage(pulumi.ComponentResource):
    """`platform:storage:Storage`: the provider and the three buckets (nextcloud, backups, appBackups)."""

    provider: aws.Provider
    buckets: dict[str, aws.s3.Bucket]
    bucket_names: dict[str, str]
    backups: aws.s3.Bucket

    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
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
        self.register_outputs({"buckets": {k: b.bucket for k, b in self.buckets.items()},
                               "endpoint": s3.endpoint})
