"""Alerts of MariaDB for Mautic: the server, Galera's membership and state, connections, and the
router's `mariadb_rw` backend. Metric source: prometheus-mysqld-exporter 0.14 (`mysql_*`; Galera's
status strings become numbers: wsrep_cluster_status Primary = 1, wsrep_ready ON = 1). Pure."""

from __future__ import annotations

from components.contract import Alert
from components.cron import max_interval_seconds
from components.mariadb import names as n
from components.settings import Settings

BACKUP_GRACE_SECONDS = 1800  # a backup may take this long beyond its schedule before we call it late


def backup_max_age_seconds(settings: Settings) -> int:
    m = settings.mariadb
    return max_interval_seconds(m.full_schedule, m.incremental_schedule) + BACKUP_GRACE_SECONDS

JOB = 'job="mysqld_exporter"'
# A node that can take writes: Synced (local state 4) in the Primary component.
WRITABLE = (f"(mysql_global_status_wsrep_local_state{{{JOB}}} == 4) "
            f"and on(instance) (mysql_global_status_wsrep_cluster_status{{{JOB}}} == 1)")


def alerts(settings: Settings) -> tuple[Alert, ...]:
    if not settings.mariadb.enabled:
        return ()
    c = settings.mariadb.cluster_name
    out = [
        Alert("MariadbDown", f"mysql_up{{{JOB}}} == 0", "1m", "critical",
              "MariaDB is down on {{ $labels.host }}",
              "The exporter on {{ $labels.host }} cannot log in to MariaDB for a minute: the server is stopped, "
              "crashed, or refuses its local socket. `systemctl status mariadb`, `journalctl -u mariadb`."),
        Alert("MariadbConnectionsHigh",
              f"mysql_global_status_threads_connected{{{JOB}}} / mysql_global_variables_max_connections{{{JOB}}} "
              "> 0.85", "5m", "warning",
              "MariaDB on {{ $labels.host }} uses {{ $value | humanizePercentage }} of its connections",
              "New connections are refused once max_connections is reached (mariadb.maxConnections): find the "
              "client that holds them (`SHOW PROCESSLIST`) before raising the limit."),
        Alert("MariadbBackupTooOld",
              f"time() - max(platform_mariadb_backup_last_success_timestamp_seconds{{cluster=\"{c}\"}}) "
              f"> {backup_max_age_seconds(settings)}", "5m", "warning",
              f"The newest MariaDB backup of {c} is older than its schedule",
              "No full or incremental mariadb-backup reached the bucket within the longest gap of "
              "mariadb.backup.* plus 30 minutes: `journalctl -u 'platform-mariadb-backup-*'` on the "
              "designated node (the first database VM whose health check answers)."),
    ]
    if n.galera(settings):
        members = len(n.members(settings))
        out += [
            Alert("GaleraNoWritableNode", f"absent({WRITABLE})", "30s", "critical",
                  f"MariaDB cluster {c} has no node that takes writes",
                  f"No node of {c} is Synced in the Primary component for 30 s (also when every exporter is "
                  "gone): Mautic's writes fail. See the runbook (a lost quorum needs a bootstrap from the most "
                  "advanced node)."),
            Alert("GaleraNonPrimary", f"mysql_global_status_wsrep_cluster_status{{{JOB}}} == 0", "30s", "critical",
                  "MariaDB on {{ $labels.host }} is cut off from the cluster's quorum",
                  "{{ $labels.host }} is in a non-primary component: it refuses queries until it sees a majority "
                  "of the members again (network, or its peers are down)."),
            Alert("GaleraNodeNotSynced", f"mysql_global_status_wsrep_local_state{{{JOB}}} != 4", "2m", "warning",
                  "MariaDB on {{ $labels.host }} is not Synced (state {{ $value }})",
                  "{{ $labels.host }} is joining, donating a state transfer or desynced for 2 minutes (1 joining, "
                  "2 donor, 3 joined): the router does not send it clients meanwhile."),
            Alert("GaleraMemberMissing", f"max(mysql_global_status_wsrep_cluster_size{{{JOB}}}) < {members}", "1m",
                  "warning", f"MariaDB cluster {c} has {{{{ $value }}}} of {members} members",
                  f"A member of {c} (a database VM or the arbitrator) is gone: one more failure stops all writes."),
        ]
    if settings.router.placement == "vms":
        out.append(Alert(
            "RouterMariadbBackendDown", 'haproxy_backend_active_servers{job="router",proxy="mariadb_rw"} < 1',
            "30s", "critical", "The router on {{ $labels.host }} has no MariaDB node for Mautic",
            "HAProxy on {{ $labels.host }} sees no MariaDB node passing its health check (writable, and with "
            "Galera Synced in the Primary component). Silenced while GaleraNoWritableNode fires."))
    return tuple(out)
