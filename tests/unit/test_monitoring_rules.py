"""Every alerting rule against `promtool test rules` (Prometheus 2.42, the distribution's): for each
fault the drills inject, the right alert fires with the right labels, and the near misses do not.

The rule files are the rendered ones with their annotations removed for the unit tests (promtool
compares annotations verbatim, and they are prose); the annotations' templates are checked by
`promtool check rules` on the unmodified files, and one case checks HostDown's text exactly.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import catalog
from components.contract import GROUP_INTERVAL_S, ROLE_LABEL
from components.monitoring.render.prometheus import render_rules, rule_files
from components.postgres.alerts import crash_window_seconds
from tests.unit.helpers import STACKS, settings

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (package prometheus) missing")

LAB = settings("lab")
# MariaDB is off in the lab stack (Pulumi.lab.yaml says why); its rules are tested with it on.
CONTRACTS = {c.name: c for c in catalog.contracts(settings("lab", mariadb={"enabled": True}))}
DB = [("db-1", "198.18.0.11"), ("db-2", "198.18.0.12")]
REDIS = [("redis-1", "198.18.0.21"), ("redis-2", "198.18.0.22")]
ETCD = [("db-1", "198.18.0.11"), ("db-2", "198.18.0.12"), ("mon-1", "198.18.0.31")]


ROLE_OF = {"db": "postgres", "redis": "redis", "mon": "monitoring", "edge": "edge"}  # Pulumi.lab.yaml's names


def series(metric: str, job: str, host: str, ip: str, port: int, values: str, **labels: str) -> dict[str, str]:
    """A scraped series as Prometheus stores it: the exporter's labels plus the target's (file_sd)."""
    target = {"job": job, "instance": f"{ip}:{port}", "host": host, "stack": "lab",
              ROLE_LABEL: ROLE_OF[host.split("-")[0]]}
    clash = set(target) & set(labels) - {"job", "instance"}
    assert not clash, f"target labels {clash} would rename the exporter's to exported_*"
    lab = {**target, **labels}
    body = ",".join(f'{k}="{v}"' for k, v in sorted(lab.items()))
    return {"series": f"{metric}{{{body}}}", "values": values}


def run_case(component: str, input_series: list[dict[str, str]], checks: list[dict[str, Any]],
             tmp_path: Path, keep_annotations: bool = False) -> subprocess.CompletedProcess[str]:
    data = yaml.safe_load(render_rules(CONTRACTS[component]))
    if not keep_annotations:
        for g in data["groups"]:
            for r in g["rules"]:
                r.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(data))
    test = {"rule_files": ["rules.yml"], "evaluation_interval": "15s",
            "tests": [{"interval": "15s", "external_labels": {"stack": "lab"}, "input_series": input_series,
                       "alert_rule_test": checks}]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    return subprocess.run(["promtool", "test", "rules", str(tmp_path / "test.yml")], capture_output=True, text=True)


def expect(name: str, at: str, *alerts: dict[str, str]) -> dict[str, Any]:
    """An alert from a host's series carries that target's role label too (see series())."""
    labels = [{ROLE_LABEL: ROLE_OF[a["host"].split("-")[0]], **a} if "host" in a else a for a in alerts]
    return {"eval_time": at, "alertname": name, "exp_alerts": [{"exp_labels": a} for a in labels]}


def ok(cp: subprocess.CompletedProcess[str]) -> None:
    assert cp.returncode == 0, cp.stdout + cp.stderr


# --- every rendered rule file is valid, templates included ---------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_rule_files_pass_promtool_check(stack: str, tmp_path: Path) -> None:
    files = rule_files(catalog.contracts(settings(stack)))
    assert set(files) >= {"baseline.yml", "postgres.yml", "redis.yml", "monitoring.yml"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    cp = subprocess.run(["promtool", "check", "rules", *[str(tmp_path / n) for n in files]],
                        capture_output=True, text=True)
    ok(cp)


def test_a_broken_rule_fails_the_check(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: up ==\n")
    assert subprocess.run(["promtool", "check", "rules", str(tmp_path / "bad.yml")],
                          capture_output=True).returncode != 0


def test_every_alert_has_severity_summary_and_a_runbook() -> None:
    for c in CONTRACTS.values():
        for a in c.alerts:
            assert a.severity in ("critical", "warning", "info", "none"), a.name
            assert a.summary and a.description and a.runbook_anchor() == f"alert-{a.name.lower()}"


def test_counts_come_from_the_settings() -> None:
    mvp = {a.name for c in catalog.contracts(settings("mvp")) for a in c.alerts}
    lab = {a.name for c in CONTRACTS.values() for a in c.alerts}
    two_node = {"PostgresReplicationLag", "PostgresReplicaMissing", "PostgresSyncStandbyMissing",
                "RedisReplicaMissing", "EtcdQuorumAtRisk", "RouterReplicaBackendDown"}
    assert two_node <= lab
    assert not two_node & mvp
    assert "RouterPrimaryBackendDown" not in mvp  # router in K3s there


# --- hosts -------------------------------------------------------------------------------------


def test_host_down_pages_after_two_failed_scrapes_and_names_the_host(tmp_path: Path) -> None:
    # One lost scrape (at 30 s) is only pending; two in a row page at the second.
    blip = [series("up", "node", "db-1", "198.18.0.11", 9100, "1 1 0 1 1 1 1")]
    ok(run_case("baseline", blip, [expect("HostDown", "45s"), expect("HostDown", "60s")], tmp_path))
    s = [series("up", "node", "db-1", "198.18.0.11", 9100, "1 1 0 0 0 0 0")]
    labels = {"severity": "critical", "component": "baseline", "job": "node", "host": "db-1", "vm_role": "postgres",
              "instance": "198.18.0.11:9100", "stack": "lab"}
    check = expect("HostDown", "45s", labels)
    check["exp_alerts"][0]["exp_annotations"] = {
        "summary": "db-1 is down",
        "description": CONTRACTS["baseline"].alerts[0].description.replace("{{ $labels.host }}", "db-1")
        .replace("{{ $labels.vm_role }}", "postgres"),
        "runbook_url": "README.md#alert-hostdown",
    }
    ok(run_case("baseline", s, [expect("HostDown", "30s"), check], tmp_path, keep_annotations=True))


def test_clock_skew_and_failed_units(tmp_path: Path) -> None:
    # node_time_seconds is sampled at t = 0, 15, ...: a value 5 s ahead of the sample time is skew.
    s = [{"series": 'node_time_seconds{job="node",host="db-1",vm_role="postgres",instance="i"}', "values": "5+15x40"},
         {"series": 'node_time_seconds{job="node",host="db-2",vm_role="postgres",instance="j"}', "values": "0+15x40"},
         {"series": 'node_systemd_unit_state{job="node",host="db-2",vm_role="postgres",instance="j",'
                    'name="etcd.service",state="failed"}', "values": "0 0 1x20"}]
    ok(run_case("baseline", s, [
        expect("ClockSkew", "6m", {"severity": "warning", "component": "baseline", "job": "node", "host": "db-1",
                                   "instance": "i"}),
        expect("SystemdUnitFailed", "3m", {"severity": "warning", "component": "baseline", "job": "node",
                                           "host": "db-2", "instance": "j", "name": "etcd.service",
                                           "state": "failed"}),
    ], tmp_path))


def test_disk_full_within_a_day(tmp_path: Path) -> None:
    gib = 1024 ** 3
    fs = 'device="/dev/vda",fstype="ext4",mountpoint="/"'
    s = [{"series": f'node_filesystem_avail_bytes{{job="node",host="db-1",vm_role="postgres",instance="i",{fs}}}',
          "values": f"{20 * gib}-{gib // 40}x400"},  # 40 GiB/day lost, 20 GiB left
         {"series": f'node_filesystem_size_bytes{{job="node",host="db-1",vm_role="postgres",instance="i",{fs}}}',
          "values": f"{100 * gib}x400"},
         {"series": 'node_filesystem_avail_bytes{job="node",host="db-2",vm_role="postgres",instance="j",fstype="tmpfs",'
                    'mountpoint="/run",device="tmpfs"}', "values": "0x400"},
         {"series": 'node_filesystem_size_bytes{job="node",host="db-2",vm_role="postgres",instance="j",fstype="tmpfs",'
                    'mountpoint="/run",device="tmpfs"}', "values": "100x400"}]
    labels = {"severity": "warning", "component": "baseline", "job": "node", "host": "db-1", "instance": "i",
              "device": "/dev/vda", "fstype": "ext4", "mountpoint": "/"}
    ok(run_case("baseline", s, [expect("DiskFullIn24h", "95m", labels), expect("DiskAlmostFull", "95m")], tmp_path))


# --- PostgreSQL --------------------------------------------------------------------------------


def patroni(metric: str, values: dict[str, str]) -> list[dict[str, str]]:
    return [series(metric, "patroni", h, ip, 8008, values[h], scope="platform-pg") for h, ip in DB if h in values]


def test_no_leader_when_every_patroni_target_is_gone(tmp_path: Path) -> None:
    # db-1 leads, then both targets vanish (stale): absent(), not a comparison, must fire.
    s = patroni("patroni_primary", {"db-1": "1 1 1 stale", "db-2": "0 0 0 stale"})
    crit = {"severity": "critical", "component": "postgres"}
    ok(run_case("postgres", s, [expect("PatroniNoLeader", "30s"), expect("PatroniNoLeader", "90s", crit)], tmp_path))


def test_a_failover_within_30s_does_not_page_no_leader_but_reports_the_new_timeline(tmp_path: Path) -> None:
    # db-1 dies at 60 s, db-2 is primary from 90 s on a new timeline.
    s = (patroni("patroni_primary", {"db-1": "1 1 1 1 stale", "db-2": "0 0 0 0 0 0 1x20"})
         + patroni("patroni_postgres_timeline", {"db-1": "3 3 3 3 stale", "db-2": "3 3 3 3 3 3 4x20"}))
    warn = {"severity": "warning", "component": "postgres", "cluster": "platform-pg", "host": "db-2"}
    ok(run_case("postgres", s, [expect("PatroniNoLeader", "90s"), expect("PatroniNoLeader", "2m"),
                                expect("PostgresFailover", "45s"), expect("PostgresFailover", "2m", warn),
                                expect("PostgresFailover", "8m")], tmp_path))


def test_a_second_failover_inside_the_window_is_a_new_alert(tmp_path: Path) -> None:
    # db-1 -> db-2 at 90 s, db-2 -> db-1 at 180 s: the second failover is another alert (host db-1),
    # so Alertmanager notifies it instead of folding it into the one still firing for db-2.
    s = (patroni("patroni_primary", {"db-1": "1 1 1 1 1 1 0 0 0 0 0 0 1x20", "db-2": "0 0 0 0 0 0 1 1 1 1 1 1 0x20"})
         + patroni("patroni_postgres_timeline", {"db-1": "3 3 3 3 3 3 3 3 3 3 3 3 5x20",
                                                 "db-2": "3 3 3 3 3 3 4 4 4 4 4 4 4x20"}))
    base = {"severity": "warning", "component": "postgres", "cluster": "platform-pg"}
    ok(run_case("postgres", s, [expect("PostgresFailover", "2m", {**base, "host": "db-2"}),
                                expect("PostgresFailover", "4m", {**base, "host": "db-1"})], tmp_path))


def test_two_leaders_page(tmp_path: Path) -> None:
    s = patroni("patroni_primary", {"db-1": "1x10", "db-2": "0 0 1x8"})
    ok(run_case("postgres", s, [expect("PatroniTwoLeaders", "30s"),
                                expect("PatroniTwoLeaders", "60s", {"severity": "critical", "component": "postgres"})],
                tmp_path))


def test_crash_is_reported_as_a_restart(tmp_path: Path) -> None:
    # It stays for 5 minutes: longer than a warning group's flush interval (2 min), so a restart that
    # joins a group still holding an earlier one is sent at its next flush instead of resolving first.
    s = patroni("patroni_postmaster_start_time", {"db-1": "1000x3 1050x36", "db-2": "990x40"})
    labels = {"severity": "warning", "component": "postgres", "job": "patroni", "host": "db-1", "scope": "platform-pg",
              "instance": "198.18.0.11:8008", "stack": "lab"}
    checks = [expect("PostgresRestarted", "30s"), expect("PostgresRestarted", "60s", labels),
              expect("PostgresRestarted", "4m", labels), expect("PostgresRestarted", "7m")]
    ok(run_case("postgres", s, checks, tmp_path))


def test_a_crash_pages_and_a_clean_restart_a_new_replica_a_demotion_or_a_power_loss_does_not(tmp_path: Path) -> None:
    # pg_stat_bgwriter.stats_reset (postgres_exporter, Unix time). db-1, the primary, crashes at 585 s
    # (no sample while it is down) and is back at 600 s with its statistics discarded; db-2 restarts
    # cleanly (statistics kept); db-3 is a new replica whose statistics begin at 600 s; db-4, the old
    # primary of a failover at 570 s, restarts as a replica at 600 s after an immediate stop; db-5's
    # whole VM lost power at 555 s (node_exporter down: HostDown pages) and crash-recovers at 600 s.
    hosts = [*DB, ("db-3", "198.18.0.13"), ("db-4", "198.18.0.14"), ("db-5", "198.18.0.15")]
    values = {"db-1": "-5000x38 _ 600x40", "db-2": "-7000x80", "db-3": "_x39 600x40", "db-4": "-6000x38 _ 600x40",
              "db-5": "-6500x36 _ _ _ 600x40"}
    primary = {"db-1": "1x80", "db-2": "0x80", "db-3": "_x39 0x40", "db-4": "1x37 0x42", "db-5": "1x36 _ _ _ 1x40"}
    node_up = {"db-1": "1x80", "db-2": "1x80", "db-3": "1x80", "db-4": "1x80", "db-5": "1x36 0 0 0 1x40"}
    s = [series("pg_stat_bgwriter_stats_reset_total", "postgres_exporter", h, ip, 9187, values[h]) for h, ip in hosts]
    s += [series("patroni_primary", "patroni", h, ip, 8008, primary[h], scope="platform-pg") for h, ip in hosts]
    s += [series("up", "node", h, ip, 9100, node_up[h]) for h, ip in hosts]
    crashed = {"severity": "critical", "component": "postgres", "job": "postgres_exporter", "host": "db-1",
               "instance": "198.18.0.11:9187", "stack": "lab"}
    # Holds for one scrape, two evaluations and a critical group's flush interval (75 s at the
    # defaults), then resolves on its own.
    assert crash_window_seconds(LAB) == 75
    ok(run_case("postgres", s, [expect("PostgresCrashed", "9m45s"), expect("PostgresCrashed", "10m", crashed),
                                expect("PostgresCrashed", "11m", crashed), expect("PostgresCrashed", "11m15s"),
                                expect("PostgresCrashed", "12m")], tmp_path))


def test_a_fixed_window_alert_outlasts_its_groups_flush_interval() -> None:
    # On the lab a crash 2 minutes after the previous one fired for 45 s inside the still existing
    # group of the first, between two of its 1-minute flushes: never sent.
    for stack in STACKS:
        s = settings(stack)
        m = s.monitoring
        assert crash_window_seconds(s) >= m.scrape_interval_seconds + 2 * m.evaluation_interval_seconds \
            + GROUP_INTERVAL_S["critical"]


def test_replication_lag_over_1mb(tmp_path: Path) -> None:
    s = (patroni("patroni_xlog_location", {"db-1": "100000000+100000x20", "db-2": "0x20"})
         + patroni("patroni_xlog_replayed_location", {"db-1": "0x20", "db-2": "100000000+10000x20"})
         + patroni("patroni_replica", {"db-1": "0x20", "db-2": "1x20"}))
    labels = {"severity": "warning", "component": "postgres", "job": "patroni", "host": "db-2", "scope": "platform-pg",
              "instance": "198.18.0.12:8008", "stack": "lab"}
    # The gap grows 90 kB per 15 s: over 1 MiB after ~3 min, then 2 min pending.
    ok(run_case("postgres", s, [expect("PostgresReplicationLag", "2m"),
                                expect("PostgresReplicationLag", "5m", labels)], tmp_path))


def test_sync_standby_missing(tmp_path: Path) -> None:
    s = patroni("patroni_sync_standby", {"db-1": "0x20", "db-2": "1 1 1 0x17"})
    ok(run_case("postgres", s, [expect("PostgresSyncStandbyMissing", "2m"),
                                expect("PostgresSyncStandbyMissing", "3m",
                                       {"severity": "warning", "component": "postgres"})], tmp_path))


def test_backup_too_old_and_archiving(tmp_path: Path) -> None:
    now_ok = "0+15x2000"  # the backup timestamp follows time (a backup at every sample)
    s = [series("platform_pg_backup_last_success_timestamp_seconds", "node", "db-1", "198.18.0.11", 9100,
                "0x600", cluster="platform-pg", type="incr"),
         series("pg_stat_archiver_failed_count", "postgres_exporter", "db-1", "198.18.0.11", 9187, "0 0 1+1x40")]
    ok(run_case("postgres", s, [
        expect("PostgresBackupTooOld", "60m"),  # an hourly incremental: not late yet
        expect("PostgresBackupTooOld", "100m", {"severity": "warning", "component": "postgres"}),
        expect("PostgresWalArchivingFailing", "6m", {"severity": "critical", "component": "postgres",
                                                     "job": "postgres_exporter", "host": "db-1",
                                                     "instance": "198.18.0.11:9187", "stack": "lab"}),
    ], tmp_path))
    s[0]["values"] = now_ok
    ok(run_case("postgres", s[:1], [expect("PostgresBackupTooOld", "100m")], tmp_path))


def test_pgbouncer_down_while_its_exporter_runs(tmp_path: Path) -> None:
    s = [series("up", "pgbouncer_exporter", h, ip, 9127, "1x20") for h, ip in DB]
    s += [series("pgbouncer_databases", "pgbouncer_exporter", "db-1", "198.18.0.11", 9127, "1x20", name="odoo"),
          series("pgbouncer_databases", "pgbouncer_exporter", "db-2", "198.18.0.12", 9127, "1 1 stale", name="odoo")]
    labels = {"severity": "critical", "component": "postgres", "job": "pgbouncer_exporter", "host": "db-2",
              "instance": "198.18.0.12:9127", "stack": "lab"}
    ok(run_case("postgres", s, [expect("PgBouncerDown", "30s"), expect("PgBouncerDown", "2m", labels)], tmp_path))


def test_etcd_quorum(tmp_path: Path) -> None:
    s = [series("up", "etcd", "db-1", "198.18.0.11", 2381, "1x20"),
         series("up", "etcd", "db-2", "198.18.0.12", 2381, "1 1 0x18"),
         series("up", "etcd", "mon-1", "198.18.0.31", 2381, "1x4 0x16")]
    ok(run_case("postgres", s, [
        expect("EtcdQuorumAtRisk", "50s"), expect("EtcdQuorumLost", "50s"),
        expect("EtcdQuorumLost", "2m", {"severity": "critical", "component": "postgres"}),
    ], tmp_path))


# --- Redis -------------------------------------------------------------------------------------


def info(host: str, ip: str, values: str, role: str) -> dict[str, str]:
    return series("redis_instance_info", "redis", host, ip, 9121, values, role=role, redis_mode="standalone")


def test_redis_no_master(tmp_path: Path) -> None:
    s = [info("redis-1", "198.18.0.21", "1 1 stale", "master"), info("redis-2", "198.18.0.22", "1x10", "slave")]
    labels = {"severity": "critical", "component": "redis", "job": "redis", "role": "master"}
    ok(run_case("redis", s, [expect("RedisNoMaster", "30s"), expect("RedisNoMaster", "75s", labels)], tmp_path))


def test_a_short_redis_double_master_blip_does_not_page(tmp_path: Path) -> None:
    # redis-1 returns and says master for 15 s before its guard makes it a replica.
    blip = [info("redis-1", "198.18.0.21", "_ _ 1 stale", "master"),
            info("redis-1", "198.18.0.21", "_ _ _ 1x10", "slave"), info("redis-2", "198.18.0.22", "1x12", "master")]
    ok(run_case("redis", blip, [expect("RedisTwoMasters", f"{t}s") for t in (30, 45, 60, 90)], tmp_path))
    lasting = [info("redis-1", "198.18.0.21", "1x12", "master"), info("redis-2", "198.18.0.22", "1x12", "master")]
    ok(run_case("redis", lasting, [expect("RedisTwoMasters", "45s",
                                          {"severity": "critical", "component": "redis"})], tmp_path))


def test_redis_master_changed_and_replica_missing(tmp_path: Path) -> None:
    def status(host: str, ip: str, addr: str, values: str) -> dict[str, str]:
        return series("redis_sentinel_master_status", "sentinel", host, ip, 9122, values, master_address=addr,
                      master_name="platform", master_status="ok")

    s = [status("redis-3", "198.18.0.23", "198.18.0.21:6379", "1x4 stale"),
         status("redis-3", "198.18.0.23", "198.18.0.22:6379", "_x4 1x40"),
         info("redis-2", "198.18.0.22", "_x4 1x40", "master"),
         series("redis_connected_slaves", "redis", "redis-2", "198.18.0.22", 9121, "_x4 0x40")]
    ok(run_case("redis", s, [
        expect("RedisMasterChanged", "30s"),
        expect("RedisMasterChanged", "90s", {"severity": "warning", "component": "redis",
                                             "master_address": "198.18.0.22:6379"}),
        expect("RedisMasterChanged", "7m"),
        expect("RedisReplicaMissing", "4m", {"severity": "warning", "component": "redis"}),
    ], tmp_path))
    # A failover back at 3 min, inside the first one's window: a new alert for the new master.
    back = [status("redis-3", "198.18.0.23", "198.18.0.21:6379", "1x4 stale _x7 1x30"),
            status("redis-3", "198.18.0.23", "198.18.0.22:6379", "_x5 1x7 stale")]
    warn = {"severity": "warning", "component": "redis"}
    ok(run_case("redis", back, [
        expect("RedisMasterChanged", "2m", {**warn, "master_address": "198.18.0.22:6379"}),
        expect("RedisMasterChanged", "4m", {**warn, "master_address": "198.18.0.21:6379"}),
        expect("RedisMasterChanged", "12m"),
    ], tmp_path))


def test_sentinel_quorum_lost(tmp_path: Path) -> None:
    s = [series("redis_sentinel_master_ckquorum_status", "sentinel", "redis-3", "198.18.0.23", 9122, "1 1 0x10",
                master_name="platform", message="NOQUORUM 1 usable Sentinels")]
    labels = {"severity": "critical", "component": "redis", "job": "sentinel", "host": "redis-3",
              "instance": "198.18.0.23:9122", "stack": "lab", "master_name": "platform",
              "message": "NOQUORUM 1 usable Sentinels"}
    ok(run_case("redis", s, [expect("SentinelQuorumLost", "60s"), expect("SentinelQuorumLost", "100s", labels)],
                tmp_path))


# --- router, monitoring ------------------------------------------------------------------------


def test_router_backends(tmp_path: Path) -> None:
    s = [series("haproxy_backend_active_servers", "router", "edge-1", "198.18.0.41", 7000, "1 1 0x10",
                proxy="postgres_primary"),
         series("haproxy_backend_active_servers", "router", "edge-1", "198.18.0.41", 7000, "1x12", proxy="redis")]
    labels = {"severity": "critical", "component": "router", "job": "router", "host": "edge-1",
              "instance": "198.18.0.41:7000", "stack": "lab", "proxy": "postgres_primary"}
    ok(run_case("router", s, [expect("RouterPrimaryBackendDown", "60s", labels),
                              expect("RouterRedisBackendDown", "60s")], tmp_path))


def test_watchdog_always_fires_and_targets_down(tmp_path: Path) -> None:
    s = [series("up", "postgres_exporter", "db-2", "198.18.0.12", 9187, "1 0x10"),
         series("up", "node", "db-2", "198.18.0.12", 9100, "1 0x10")]
    labels = {"severity": "warning", "component": "monitoring", "job": "postgres_exporter", "host": "db-2",
              "instance": "198.18.0.12:9187", "stack": "lab"}
    ok(run_case("monitoring", s, [expect("Watchdog", "15s", {"severity": "none", "component": "monitoring"}),
                                  expect("TargetDown", "90s", labels)], tmp_path))


def test_certificate_expiry_from_both_probes(tmp_path: Path) -> None:
    day = 86400
    s = [{"series": 'probe_ssl_earliest_cert_expiry{job="tls",host="db-1",vm_role="postgres",service="patroni",'
                    'instance="i"}',
          "values": f"{30 * day}x80"},
         {"series": 'platform_tls_cert_not_after_seconds{job="node",host="mon-1",vm_role="monitoring",'
                    'service="pgbouncer",target="198.18.0.12:6432",instance="j"}', "values": f"{10 * day}x80"}]
    labels = {"severity": "warning", "component": "monitoring", "job": "node", "host": "mon-1",
              "service": "pgbouncer", "target": "198.18.0.12:6432", "instance": "j"}
    ok(run_case("monitoring", s, [expect("CertificateExpiringSoon", "15m", labels)], tmp_path))


def test_every_alert_has_its_runbook_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    names = {a.name: a for stack in STACKS for c in catalog.contracts(settings(stack)) for a in c.alerts}
    missing = [n for n, a in names.items() if f'<a id="{a.runbook_anchor()}"></a>' not in readme]
    assert missing == []
    assert all(f"(#{a.runbook_anchor()})" in readme for a in names.values())


# --- MariaDB (Galera on db-1, db-2 + the arbitrator on mon-1: 3 members) ------------------------------


def mysqld(metric: str, values: dict[str, str]) -> list[dict[str, str]]:
    return [series(metric, "mysqld_exporter", h, ip, 9104, values[h]) for h, ip in DB if h in values]


def test_galera_alerts(tmp_path: Path) -> None:
    # db-1 is cut off at 5 min (non-Primary, not Synced, cluster seen as 1 member); db-2 keeps the
    # Primary component with the arbitrator (2 of 3); at 10 min db-2 goes too: nobody writable.
    s = (mysqld("mysql_up", {"db-1": "1x60", "db-2": "1x60"})
         + mysqld("mysql_global_status_wsrep_cluster_status", {"db-1": "1x20 0x40", "db-2": "1x40 0x20"})
         + mysqld("mysql_global_status_wsrep_local_state", {"db-1": "4x20 1x40", "db-2": "4x40 1x20"})
         + mysqld("mysql_global_status_wsrep_cluster_size", {"db-1": "3x20 1x40", "db-2": "3x20 2x20 1x20"}))
    crit = {"severity": "critical", "component": "mariadb"}
    node = {**crit, "job": "mysqld_exporter", "instance": "198.18.0.11:9104", "stack": "lab", "host": "db-1"}
    warn = {"severity": "warning", "component": "mariadb"}
    ok(run_case("mariadb", s, [
        expect("GaleraNonPrimary", "4m"), expect("GaleraNonPrimary", "6m", node),
        expect("GaleraNodeNotSynced", "7m30s", {**node, "severity": "warning"}),
        expect("GaleraMemberMissing", "7m", warn),
        expect("GaleraNoWritableNode", "9m"), expect("GaleraNoWritableNode", "11m", crit),
    ], tmp_path))


def test_no_writable_node_when_every_exporter_is_gone(tmp_path: Path) -> None:
    s = (mysqld("mysql_global_status_wsrep_cluster_status", {"db-1": "1 1 1 stale", "db-2": "1 1 1 stale"})
         + mysqld("mysql_global_status_wsrep_local_state", {"db-1": "4 4 4 stale", "db-2": "4 4 4 stale"}))
    ok(run_case("mariadb", s, [expect("GaleraNoWritableNode", "30s"),
                               expect("GaleraNoWritableNode", "90s", {"severity": "critical",
                                                                      "component": "mariadb"})], tmp_path))


def test_mariadb_down_backup_too_old_and_router(tmp_path: Path) -> None:
    s = (mysqld("mysql_up", {"db-1": "1 1 0x10", "db-2": "1x12"})
         + [series("platform_mariadb_backup_last_success_timestamp_seconds", "node", "db-1", "198.18.0.11", 9100,
                   "0x600", cluster="platform-mariadb", type="full"),
            series("haproxy_backend_active_servers", "router", "edge-1", "198.18.0.41", 7000, "1 1 0x10",
                   proxy="mariadb_rw")])
    down = {"severity": "critical", "component": "mariadb", "job": "mysqld_exporter", "host": "db-1",
            "instance": "198.18.0.11:9104", "stack": "lab"}
    router = {"severity": "critical", "component": "mariadb", "job": "router", "host": "edge-1",
              "instance": "198.18.0.41:7000", "stack": "lab", "proxy": "mariadb_rw"}
    ok(run_case("mariadb", s, [
        expect("MariadbDown", "45s"), expect("MariadbDown", "2m", down),
        expect("RouterMariadbBackendDown", "60s", router),
        # Hourly incrementals: 1 h + 30 min grace + 5 min pending.
        expect("MariadbBackupTooOld", "90m"),
        expect("MariadbBackupTooOld", "100m", {"severity": "warning", "component": "mariadb"}),
    ], tmp_path))
