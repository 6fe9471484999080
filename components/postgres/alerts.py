"""Alerts of the PostgreSQL cluster: Patroni, replication, backups, PgBouncer, etcd. Counts come
from the settings (replica and sync alerts only where there are replicas). Pure.

Metric sources: Patroni's /metrics (`patroni_*`, Patroni 3.0), postgres_exporter 0.11 (`pg_*`),
the platform's PgBouncer exporter (`pgbouncer_*`, host/pgbouncer_exporter.py), etcd's metrics
listener (`etcd_*`), and the backup script's textfile (`platform_pg_backup_*`).
"""

from __future__ import annotations

from components.contract import GROUP_INTERVAL_S, Alert
from components.cron import max_interval_seconds
from components.postgres.names import etcd_members
from components.settings import Settings

PATRONI = 'job="patroni"'
LEADER = f'patroni_primary{{{PATRONI}}} == 1'
STATS_RESET = 'pg_stat_bgwriter_stats_reset_total{job="postgres_exporter"}'
BACKUP_GRACE_SECONDS = 1800  # a backup may take this long beyond its schedule before we call it late


def backup_max_age_seconds(settings: Settings) -> int:
    b = settings.postgres.backup
    return max_interval_seconds(b.full_schedule, b.incremental_schedule) + BACKUP_GRACE_SECONDS


def crash_window_seconds(settings: Settings) -> int:
    """How long after a crash recovery PostgresCrashed holds: one scrape and two evaluations (so
    that at least one evaluation sees it) plus a critical group's flush interval (so that it is
    still active at that group's next flush: an alert that came and went between two flushes is
    never sent, as when a crash repeats within minutes). 75 s at the defaults."""
    m = settings.monitoring
    return m.scrape_interval_seconds + 2 * m.evaluation_interval_seconds + GROUP_INTERVAL_S["critical"]


def alerts(settings: Settings) -> tuple[Alert, ...]:
    pg = settings.postgres
    c = pg.cluster_name
    dbs = len(settings.hosts["postgres"])
    members = len(etcd_members(settings))
    quorum = members // 2 + 1
    out = [
        Alert("PatroniNoLeader", f"absent({LEADER})", "30s", "critical",
              f"PostgreSQL cluster {c} has no primary",
              f"No Patroni member of {c} reports itself primary for 30 s (also when every Patroni target is "
              "gone): writes fail. `patronictl list` on a database VM; see the runbook."),
        Alert("PatroniTwoLeaders", f"count({LEADER}) > 1", "15s", "critical",
              f"PostgreSQL cluster {c} has {{{{ $value }}}} primaries",
              f"More than one member of {c} reports itself primary: split brain. The router sends writes "
              "only to the node Patroni's leader key names; fence the other at once."),
        Alert("PostgresDown", f"patroni_postgres_running{{{PATRONI}}} == 0", "1m", "critical",
              "PostgreSQL is not running on {{ $labels.host }}",
              "Patroni on {{ $labels.host }} reports PostgreSQL stopped for a minute."),
        # A crash, told apart from a restart: PostgreSQL discards its statistics after crash recovery
        # (and after an immediate shutdown) and keeps them over a clean stop, so pg_stat_bgwriter's
        # stats_reset jumps to the restart. Not for a new replica (bootstrap, reinit: its series is
        # younger than 5 minutes), nor for a VM that was down (or cut off) in the last 5 minutes
        # (HostDown paged for that; after a power loss every node crash-recovers, and the platform
        # is healthy again once they are back), nor for a primary demoted in the last 5 minutes (its rewind or
        # immediate stop is part of a failover, which pages as such; an Alertmanager inhibition by
        # PostgresFailover cannot be used: a primary's crash in place raises it too, Patroni starts
        # it as a standby and promotes it). The window: crash_window_seconds.
        Alert("PostgresCrashed",
              f"(time() - {STATS_RESET} < {crash_window_seconds(settings)}) "
              f"and on(instance) ({STATS_RESET} offset 5m) "
              f"unless on(host) (max_over_time(patroni_primary{{{PATRONI}}}[5m]) == 1 "
              f"and patroni_primary{{{PATRONI}}} == 0) "
              f"unless on(host) (min_over_time(up{{job=\"node\"}}[5m]) == 0)", "0s", "critical",
              "PostgreSQL crashed on {{ $labels.host }} and recovered",
              "PostgreSQL on {{ $labels.host }} ran crash recovery (a killed postmaster or backend, the "
              "OOM killer, a power loss, an immediate shutdown): Patroni restarted it in place, clients "
              "saw their connections drop. Find the cause before it repeats; see the runbook.", per="host"),
        # A 5-minute window: an alert active for only a minute could resolve before the next flush
        # of its group (warnings: every 2 min) and never be sent (measured: 5 crashes 3 min apart,
        # none sent within 120 s).
        Alert("PostgresRestarted", f"changes(patroni_postmaster_start_time{{{PATRONI}}}[5m]) > 0", "0s", "warning",
              "PostgreSQL restarted on {{ $labels.host }}",
              "The postmaster on {{ $labels.host }} started again (a restart, planned or by Patroni; a "
              "crash also pages as PostgresCrashed): check its log for the cause (a pending-restart roll, "
              "an operator, the OOM killer)."),
        # One alert per new primary (its `host`), so a second failover inside the 5-minute window is a
        # new alert and pages again instead of joining the one still firing; the value counts the
        # timeline changes in the window.
        Alert("PostgresFailover",
              f"(changes(platform:patroni_leader_timeline:max{{cluster=\"{c}\"}}[5m]) > 0) "
              f"* on() group_right(cluster) max by (host, vm_role) ({LEADER})",
              "0s", "warning",
              f"PostgreSQL cluster {c} failed over to {{{{ $labels.host }}}}",
              f"The primary of {c} is now {{{{ $labels.host }}}} on a new timeline ({{{{ $value }}}} timeline "
              "change(s) in the last 5 minutes): a failover or an unplanned promotion. Check why (the other "
              "alerts, `patronictl history`) and that the old primary rejoined as a replica.", per="host"),
        Alert("PostgresPendingRestart", f"patroni_pending_restart{{{PATRONI}}} == 1", "30m", "info",
              "PostgreSQL on {{ $labels.host }} waits for a restart",
              "A changed parameter takes effect only after a restart of PostgreSQL on {{ $labels.host }}."),
        Alert("PostgresWalArchivingFailing",
              'increase(pg_stat_archiver_failed_count{job="postgres_exporter"}[10m]) > 0', "5m", "critical",
              "WAL archiving to S3 fails on {{ $labels.host }}",
              "pgBackRest's archive-push failed on {{ $labels.host }} in the last 10 minutes: point-in-time "
              "recovery stops at the last archived segment and pg_wal grows (up to archive-push-queue-max)."),
        Alert("PostgresBackupTooOld",
              f"time() - max(platform_pg_backup_last_success_timestamp_seconds{{cluster=\"{c}\"}}) "
              f"> {backup_max_age_seconds(settings)}", "5m", "warning",
              f"The newest backup of {c} is {{{{ $value | humanizeDuration }}}} old",
              f"No pgBackRest backup of {c} succeeded within its schedule (postgres.backup.*) plus "
              f"{BACKUP_GRACE_SECONDS // 60} minutes: see /var/log/pgbackrest and `pgbackrest info` on the primary."),
        Alert("PostgresBackupMissing", f"absent(platform_pg_backup_last_success_timestamp_seconds{{cluster=\"{c}\"}})",
              f"{backup_max_age_seconds(settings)}s", "warning",
              f"{c} has no successful backup on record",
              "No database VM has a backup timestamp: the backup script never succeeded since the VMs were set up."),
        Alert("PgBouncerDown",
              'up{job="pgbouncer_exporter"} == 1 unless on(instance) '
              'count by (instance) (pgbouncer_databases{job="pgbouncer_exporter"})',
              "1m", "critical",
              "PgBouncer is down on {{ $labels.host }}",
              "The PgBouncer exporter on {{ $labels.host }} gets no answer from PgBouncer: the router drops the "
              "node, and where it is the primary, writes fail."),
        Alert("PgBouncerClientsWaiting", 'max by (host, database) (pgbouncer_max_wait_seconds) > 1', "2m", "warning",
              "Clients wait for a server connection to {{ $labels.database }} on {{ $labels.host }}",
              "A client of {{ $labels.database }} has waited {{ $value }} s for a server connection: the pool is "
              "too small for the load, or queries are slow."),
        Alert("EtcdNoLeader", 'etcd_server_has_leader{job="etcd"} == 0', "1m", "critical",
              "etcd member {{ $labels.host }} has no leader",
              "The etcd member on {{ $labels.host }} sees no raft leader: Patroni cannot renew its leader key."),
        Alert("EtcdQuorumLost", f'count(up{{job="etcd"}} == 1) < {quorum} or absent(up{{job="etcd"}} == 1)', "30s",
              "critical", f"etcd of {c} has lost its quorum",
              f"Fewer than {quorum} of {members} etcd members answer: no leader key can be written. Patroni's "
              "failsafe mode keeps the primary only while it sees every member."),
    ]
    if members > 1:
        out.append(Alert("EtcdQuorumAtRisk", f'count(up{{job="etcd"}} == 1) == {quorum}', "1m", "warning",
                         f"etcd of {c} has no member to spare",
                         f"Only {quorum} of {members} etcd members answer: one more failure loses the quorum."))
    if dbs > 1:
        out.append(Alert(
            "PostgresReplicationLag",
            f'max(patroni_xlog_location{{{PATRONI}}}) - on() group_right() '
            f'(patroni_xlog_replayed_location{{{PATRONI}}} and on(instance) patroni_replica{{{PATRONI}}} == 1) '
            '> 1048576',
            "2m", "warning",
            "Replica {{ $labels.host }} is {{ $value | humanize1024 }}B behind",
            "The replica on {{ $labels.host }} replays WAL more than 1 MiB behind the primary's position."))
        out.append(Alert(
            "PostgresReplicaMissing", f"count(patroni_replica{{{PATRONI}}} == 1) < {dbs - 1} "
            f"or absent(patroni_replica{{{PATRONI}}} == 1)", "2m", "warning",
            f"PostgreSQL cluster {c} runs with fewer than {dbs - 1} replica(s)",
            f"Not every database VM of {c} runs as a replica: a failover has fewer candidates."))
    if pg.synchronous and dbs > 1:
        out.append(Alert(
            "PostgresSyncStandbyMissing", f"absent(patroni_sync_standby{{{PATRONI}}} == 1)", "2m", "warning",
            f"PostgreSQL cluster {c} has no synchronous standby",
            f"{c} runs synchronously (postgres.synchronous) but no replica is the sync standby: commits are "
            "acknowledged before a replica has them, and a failover may lose them."))
    return tuple(out)


def recording_rules(settings: Settings) -> dict[str, str]:
    """Rules other expressions build on: the timeline of the primary (for PostgresFailover)."""
    c = settings.postgres.cluster_name
    return {"platform:patroni_leader_timeline:max":
            f'label_replace(max(patroni_postgres_timeline{{{PATRONI}}} and on(instance) {LEADER}), '
            f'"cluster", "{c}", "", "")'}
