"""Alerts of the Redis/Sentinel cluster (redis_exporter 1.45 for redis-server and in Sentinel mode).
Counts come from the settings: replica alerts only where there are two data nodes. Pure."""

from __future__ import annotations

from components.contract import Alert
from components.cron import max_interval_seconds
from components.redis.names import data_hosts
from components.settings import Settings

MASTER = 'redis_instance_info{job="redis",role="master"}'
SENTINEL_STATUS = 'redis_sentinel_master_status{job="sentinel"}'
BACKUP_GRACE_SECONDS = 1800


def backup_max_age_seconds(settings: Settings) -> int:
    return max_interval_seconds(settings.redis.backup_schedule) + BACKUP_GRACE_SECONDS


def alerts(settings: Settings) -> tuple[Alert, ...]:
    name = settings.redis.master_name
    data = len(data_hosts(settings))
    backup_age = backup_max_age_seconds(settings)
    out = [
        Alert("RedisDown", 'redis_up{job="redis"} == 0', "30s", "critical",
              "Redis is down on {{ $labels.host }}",
              "redis_exporter on {{ $labels.host }} cannot reach its redis-server."),
        Alert("RedisNoMaster", f"absent({MASTER})", "30s", "critical",
              f"Redis {name} has no master",
              f"No data node of {name} reports role master for 30 s (also when every Redis target is gone): "
              "writes fail. Check the Sentinels (`redis-cli -p 26379 sentinel masters`)."),
        # A returning former master may say `master` for a moment before its guard or Sentinel makes it
        # a replica; only a double master that lasts pages.
        Alert("RedisTwoMasters", f"count({MASTER}) > 1", "30s", "critical",
              f"Redis {name} has {{{{ $value }}}} masters",
              f"More than one data node of {name} has been master for 30 s: writes may split. The router keeps "
              "connections on the master it chose first; see the runbook."),
        # One alert per new master (`master_address`, as the Sentinels name it now), so a second
        # failover inside the 5-minute window is a new alert and pages again.
        Alert("RedisMasterChanged",
              f"(count(count by (master_address) (max_over_time({SENTINEL_STATUS}[5m]))) > 1) "
              f"* on() group_right() max by (master_address) ({SENTINEL_STATUS})",
              "0s", "warning",
              f"Redis {name} failed over to {{{{ $labels.master_address }}}}",
              f"The Sentinels of {name} named {{{{ $value }}}} masters in the last 5 minutes and name "
              "{{ $labels.master_address }} now: a failover happened. Check why and that the former master "
              "came back as a replica.", per="master_address"),
        Alert("SentinelQuorumLost", 'redis_sentinel_master_ckquorum_status{job="sentinel"} == 0', "1m", "critical",
              "Sentinel on {{ $labels.host }} cannot reach a quorum",
              "`SENTINEL CKQUORUM` fails on {{ $labels.host }}: {{ $labels.message }}. A failover cannot be "
              "authorised until enough Sentinels are back."),
        Alert("RedisBackupTooOld",
              f"time() - max(platform_redis_backup_last_success_timestamp_seconds) > {backup_age}", "5m", "warning",
              f"The newest RDB copy of {name} is {{{{ $value | humanizeDuration }}}} old",
              "No Redis backup reached the bucket within redis.backup.schedule plus 30 minutes: "
              "`journalctl -u platform-redis-backup` on the master."),
    ]
    if data > 1:
        out.append(Alert(
            "RedisReplicaMissing",
            f"max(redis_connected_slaves{{job=\"redis\"}} and on(instance) {MASTER}) < {data - 1}",
            "2m", "warning",
            f"Redis {name} master has {{{{ $value }}}} replica(s) of {data - 1}",
            f"The master of {name} has fewer connected replicas than data nodes less one: a failover would lose "
            "what it has not replicated."))
    return tuple(out)
