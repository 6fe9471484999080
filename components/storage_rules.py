"""What each bucket gets (pure): versioning, lifecycle rules, the public access block and
server-side encryption, as plain data from the settings and the components' contracts (their
`BucketUse`s). components/storage.py registers them; the lab's mock applies them to its S3 server.

Lifecycle rules follow who owns a prefix's retention:
- pgBackRest (`pgbackrest/<cluster>/`): **no rule**. pgBackRest expires backups and the WAL they
  need together (repo1-retention-full); an age rule would delete WAL segments that the oldest kept
  backup still needs to be restored, or the archive a point-in-time restore replays.
- K3s etcd snapshots and Loki's chunks: no rule either; K3s (etcd-s3-retention) and Loki's
  compactor delete their own objects.
- Redis RDB copies and MariaDB chains: the backup scripts delete what is older than the retention
  but never the newest copy. The rule is a safety net for a script that stopped pruning, set
  `s3.lifecycleMarginDays` after the retention; note that it also deletes the newest copy once
  backups have stopped for that long (the backup-age alert fires after one missed schedule).
- appBackups: its objects expire after `s3.appBackupsDays`.
- Nextcloud: versioned; noncurrent versions expire after `s3.nextcloudNoncurrentDays`, incomplete
  multipart uploads (interrupted chunked uploads) are aborted after a week.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from components.contract import Contract
from components.settings import Settings

ABORT_MULTIPART_DAYS = 7


@dataclass(frozen=True)
class LifecycleRule:
    id: str
    prefix: str
    expire_days: int | None = None  # current objects
    noncurrent_days: int | None = None  # previous versions (versioned buckets)
    abort_multipart_days: int | None = None


@dataclass(frozen=True)
class BucketPolicy:
    key: str  # nextcloud | backups | appBackups
    name: str
    versioning: bool
    rules: tuple[LifecycleRule, ...]
    block_public_access: bool
    sse: str | None  # AES256, or None


def _rule_id(prefix: str) -> str:
    return "expire-" + (prefix.strip("/").replace("/", "-") or "all")


def policies(settings: Settings, contracts: Sequence[Contract]) -> dict[str, BucketPolicy]:
    s3 = settings.s3
    rules: dict[str, list[LifecycleRule]] = {k: [] for k in s3.buckets.by_key()}
    for c in contracts:
        for use in c.buckets:
            if use.expire_days is not None:
                rules[use.bucket].append(LifecycleRule(_rule_id(use.prefix), use.prefix, expire_days=use.expire_days))
    rules["nextcloud"].append(LifecycleRule("nextcloud-versions", "", noncurrent_days=s3.nextcloud_noncurrent_days,
                                            abort_multipart_days=ABORT_MULTIPART_DAYS))
    rules["appBackups"].append(LifecycleRule("expire-all", "", expire_days=s3.app_backups_days))
    return {
        key: BucketPolicy(key=key, name=name, versioning=(key == "nextcloud"),
                          rules=tuple(sorted(rules[key], key=lambda r: r.prefix)),
                          block_public_access=s3.block_public_access,
                          sse=None if s3.server_side_encryption == "none" else s3.server_side_encryption)
        for key, name in s3.buckets.by_key().items()
    }


def covers(rule: LifecycleRule, prefix: str) -> bool:
    """Whether `rule` can act on objects below `prefix` (its prefix is a prefix of it, or the reverse)."""
    return prefix.startswith(rule.prefix) or rule.prefix.startswith(prefix)


def lifecycle_rules(policy: BucketPolicy) -> list[dict[str, object]]:
    """The rules in S3's PutBucketLifecycleConfiguration shape (also what the lab puts to its S3)."""
    out: list[dict[str, object]] = []
    for r in policy.rules:
        rule: dict[str, object] = {"ID": r.id, "Status": "Enabled", "Filter": {"Prefix": r.prefix}}
        if r.expire_days is not None:
            rule["Expiration"] = {"Days": r.expire_days}
        if r.noncurrent_days is not None:
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": r.noncurrent_days}
        if r.abort_multipart_days is not None:
            rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": r.abort_multipart_days}
        out.append(rule)
    return out
