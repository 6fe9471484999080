"""What the apps offer the platform: their verify lines. Their ports are Services in K3s, not VM
ports; their URLs are stack outputs (`appProbeTargets` for blackbox probes). Pure."""

from __future__ import annotations

from components.contract import BucketUse, Contract
from components.settings import Settings


def contract(settings: Settings) -> Contract:
    buckets = (BucketUse("nextcloud", "", "Nextcloud's primary object storage (versioned; its noncurrent versions "
                         "expire after s3.nextcloudNoncurrentDays)"),) if "nextcloud" in settings.enabled_apps() else ()
    return Contract(name="apps", checks="components.apps.checks", buckets=buckets)
