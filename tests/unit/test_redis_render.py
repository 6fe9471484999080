"""Redis renderers: settings reach the files, secrets never do, ACLs, the router section
(validated with `haproxy -c`), the cron -> OnCalendar translation, and shellcheck on the helper
scripts installed on the hosts (components/redis/files, not step scripts)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.cron import cron_to_oncalendar
from components.redis import render
from components.redis.contract import contract, ports
from components.settings import Settings
from tests.unit.helpers import settings

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{\{secret:([A-Za-z0-9_.-]+)\}\}")


def with_redis(s: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(s, redis=dataclasses.replace(s.redis, **changes))


def all_texts(s: Settings) -> dict[str, str]:
    out: dict[str, str] = {"router": render.router_section(s), "s3cfg": render.render_s3cfg(s)}
    for h in s.hosts["redis"]:
        out[f"redis.conf:{h.name}"] = render.render_redis_conf(s, h)
        out[f"sentinel.conf:{h.name}"] = render.render_sentinel_conf(s, h)
        out[f"guard.env:{h.name}"] = render.render_guard_env(s, h)
        out[f"exporter:{h.name}"] = render.render_exporter_defaults(s, h)
        out[f"backup.env:{h.name}"] = render.render_backup_env(s, h)
    return out


def test_topology_per_preset() -> None:
    assert [h.name for h in render.data_hosts(settings("mvp"))] == ["redis-1"]
    ha = settings("prod-ha")
    assert [h.name for h in render.data_hosts(ha)] == ["redis-1", "redis-2"]
    assert [h.name for h in render.sentinel_hosts(ha)] == ["redis-1", "redis-2", "redis-3"]
    assert render.sentinel_addresses(ha) == ["192.0.2.31:26379", "192.0.2.32:26379", "192.0.2.33:26379"]
    assert render.router_endpoint(settings("lab")) == "198.18.0.41:6379"


def test_redis_conf_carries_the_settings() -> None:
    s = with_redis(settings("prod-ha"), maxmemory_mb=777, maxmemory_policy="allkeys-lfu")
    h = s.hosts["redis"][1]
    conf = render.render_redis_conf(s, h)
    lines = conf.splitlines()
    for want in ("bind 192.0.2.32 127.0.0.1", "protected-mode yes", "port 6379", "appendonly yes",
                 "appendfsync everysec", "save 3600 1 300 100 60 10000", "maxmemory 777mb",
                 "maxmemory-policy allkeys-lfu", "replica-announce-ip 192.0.2.32", "replica-read-only yes",
                 "requirepass {{secret:redis_password}}", "masterauth {{secret:redis_password}}",
                 "dir /var/lib/redis", "supervised systemd"):
        assert want in lines, want
    assert not any(line.startswith(("replicaof", "slaveof")) for line in lines)
    assert "tls-port" not in conf


def test_acl_users() -> None:
    s = with_redis(settings("prod-ha"), apps=("nextcloud", "mautic", "odoo-x"))
    users = {line.split()[1]: line for line in render.acl_lines(s)}
    assert set(users) == {"nextcloud", "mautic", "odoo-x", "exporter", "sentinel", "healthcheck", "backup"}
    nc = users["nextcloud"]
    assert ">{{secret:redis_app_nextcloud}}" in nc and " ~nextcloud:* &nextcloud:* " in nc
    assert "-@admin -@dangerous" in nc and "allkeys" not in nc and "~*" not in nc
    assert ">{{secret:redis_app_odoo_x}}" in users["odoo-x"]
    assert "-@all" in users["exporter"] and "+info" in users["exporter"] and "~" not in users["exporter"]
    for cmd in ("+multi", "+slaveof", "+ping", "+exec", "+subscribe", "+config|rewrite", "+role",
                "+publish", "+info", "+client|setname", "+client|kill", "+script|kill", "allchannels"):
        assert cmd in users["sentinel"].split(), cmd
    assert users["healthcheck"].endswith("-@all +ping +info +quit")
    assert "+bgsave" in users["backup"] and "+@write" not in users["backup"]


def test_sentinel_conf() -> None:
    s = with_redis(settings("prod-ha"), down_after_ms=2000, failover_timeout_ms=30000, master_name="cache")
    conf = render.render_sentinel_conf(s, s.hosts["redis"][2]).splitlines()
    for want in ("sentinel monitor cache 192.0.2.31 6379 2", "sentinel auth-user cache sentinel",
                 "sentinel auth-pass cache {{secret:redis_sentinel}}",
                 "sentinel down-after-milliseconds cache 2000", "sentinel failover-timeout cache 30000",
                 "sentinel announce-ip 192.0.2.33", "port 26379", "bind 192.0.2.33 127.0.0.1"):
        assert want in conf, want
    assert "sentinel monitor platform 192.0.2.31 6379 1" in render.render_sentinel_conf(
        settings("mvp"), settings("mvp").hosts["redis"][0])


def test_guard_env_names_all_sentinels_and_the_initial_master() -> None:
    s = settings("prod-ha")
    env = render.render_guard_env(s, s.hosts["redis"][1])
    assert "SENTINELS='192.0.2.31:26379 192.0.2.32:26379 192.0.2.33:26379'" in env
    assert "INITIAL_MASTER=192.0.2.31:6379" in env and "SELF_IP=192.0.2.32" in env
    assert f"FAILOVER_WAIT={max(15, 3 * s.redis.down_after_ms // 1000 + 5)}" in env  # 3 x down-after + 5, >= 15
    assert "ExecStartPre=+/usr/local/lib/platform-redis/redis-guard" in render.render_redis_dropin()


def test_tls_settings() -> None:
    s = with_redis(settings("prod-ha"), tls=True)
    h = s.hosts["redis"][0]
    conf = render.render_redis_conf(s, h).splitlines()
    assert "port 0" in conf and "tls-port 6379" in conf and "tls-replication yes" in conf
    sconf = render.render_sentinel_conf(s, h).splitlines()
    assert "port 0" in sconf and "tls-port 26379" in sconf
    assert "rediss://127.0.0.1:6379" in render.render_exporter_defaults(s, h)
    assert " check-ssl verify required ca-file /etc/haproxy/platform-ca.pem" in render.router_section(s)
    assert "CLI_TLS_ARGS='--tls --cacert /etc/redis/tls/ca.crt'" in render.render_guard_env(s, h)


@pytest.mark.parametrize("stack", ["mvp", "prod-ha", "lab"])
def test_no_secret_values_only_known_placeholders(stack: str) -> None:
    s = settings(stack)
    known = {render.SECRET_ADMIN, render.SECRET_SENTINEL, render.SECRET_EXPORTER, render.SECRET_HEALTHCHECK,
             render.SECRET_BACKUP, render.SECRET_S3_ACCESS, render.SECRET_S3_SECRET}
    known |= {render.app_secret(a) for a in s.redis.apps}
    for name, text in all_texts(s).items():
        assert "placeholder-" not in text, name
        assert set(PLACEHOLDER.findall(text)) <= known, name
        for line in text.splitlines():
            if re.match(r"^(requirepass|masterauth|user |sentinel auth-pass|access_key|secret_key|REDIS_PASS)",
                        line):
                assert "{{secret:" in line, (name, line)


def test_exporters_and_scrape_targets() -> None:
    s = settings("prod-ha")
    h = s.hosts["redis"][0]
    ex = render.render_exporter_defaults(s, h)
    assert "--redis.user=exporter" in ex and "--web.listen-address=192.0.2.31:9121" in ex
    assert "REDIS_PASSWORD={{secret:redis_exporter}}" in ex
    assert "127.0.0.1:26379" in render.render_sentinel_exporter_defaults(s, h)
    assert {j.job: j.addresses() for j in contract(s).scrape_jobs} == {
        "redis": ["192.0.2.31:9121", "192.0.2.32:9121"],
        "sentinel": ["192.0.2.31:9122", "192.0.2.32:9122", "192.0.2.33:9122"],
    }


def test_backup_rendering() -> None:
    s = with_redis(settings("lab"), backup_schedule="0 */6 * * *", backup_retention_days=3)
    cfg = render.render_s3cfg(s)
    assert "host_base = 198.18.0.1:9443" in cfg and "host_bucket = 198.18.0.1:9443" in cfg
    assert "ca_certs_file = \n" in cfg
    env = render.render_backup_env(s, s.hosts["redis"][0])
    assert "BUCKET=platform-lab-backups" in env and "PREFIX=redis/platform/" in env and "RETENTION_DAYS=3" in env
    timer = render.render_backup_units(s)["platform-redis-backup.timer"]
    assert "OnCalendar=*-*-* 00/6:00:00" in timer and "Persistent=true" in timer
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    s2 = dataclasses.replace(s, s3=dataclasses.replace(s.s3, ca_certificate=pem))
    assert "ca_certs_file = /etc/redis/platform/s3-ca.pem" in render.render_s3cfg(s2)


@pytest.mark.parametrize(("cron", "cal"), [
    ("30 2 * * *", "*-*-* 02:30:00"),
    ("*/15 * * * *", "*-*-* *:00/15:00"),
    ("0 1 * * 1-5", "Mon..Fri *-*-* 01:00:00"),
    ("0 0 1 * *", "*-*-01 00:00:00"),
    ("5,35 8-18 * * sun", "Sun *-*-* 08..18:05,35:00"),
    ("0 0-12/6 * * *", "*-*-* 00,06,12:00:00"),
])
def test_cron_to_oncalendar(cron: str, cal: str) -> None:
    assert cron_to_oncalendar(cron) == cal
    if shutil.which("systemd-analyze"):
        proc = subprocess.run(["systemd-analyze", "calendar", cal], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("cron", ["61 * * * *", "0 0 1 * 1", "0 0 * * */2", "* * *", "0 25 * * *"])
def test_cron_refused(cron: str) -> None:
    with pytest.raises(ValueError):
        cron_to_oncalendar(cron)


def test_firewall_ports() -> None:
    by_name = {p.name: p for p in ports(settings("lab"))}
    assert by_name["redis"].port == 6379 and set(by_name["redis"].sources) == {"k3s", "router", "redis"}
    assert set(by_name["redis-sentinel"].sources) == {"redis", "k3s", "router"}
    assert by_name["redis-exporter"].sources == ("monitoring",)
    assert by_name["redis-router"].on == ("router",)
    assert "redis-router" not in {p.name for p in ports(settings("prod-ha"))}


def test_router_section_routes_to_the_master_only() -> None:
    s = settings("prod-ha")
    sec = render.router_section(s)
    assert "bind :6379" in sec and "tcp-check expect string role:master" in sec
    assert 'tcp-check send "AUTH healthcheck {{secret:redis_healthcheck}}\\r\\n"' in sec
    assert "stick on int(1)" in sec and "balance first" in sec and "on-marked-down shutdown-sessions" in sec
    servers = [line.split()[1:3] for line in sec.splitlines() if line.strip().startswith("server ")]
    assert servers == [["redis-1", "192.0.2.31:6379"], ["redis-2", "192.0.2.32:6379"]]


@pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing (apt-get install haproxy)")
@pytest.mark.parametrize("tls", [False, True])
def test_router_section_passes_haproxy_check(tmp_path: Path, tls: bool) -> None:
    s = with_redis(settings("lab"), tls=tls)
    section = PLACEHOLDER.sub("Abc123", render.router_section(s))
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    section = section.replace("/etc/haproxy/platform-ca.pem", str(ca))
    if tls:
        # A syntactically valid CA file for the check (any self-signed certificate will do).
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", str(tmp_path / "k.pem"), "-out", str(ca), "-subj", "/CN=t",
                        "-days", "1"], check=True, capture_output=True)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("global\n    maxconn 100\n\ndefaults\n    mode tcp\n    timeout connect 3s\n"
                   "    timeout client 30s\n    timeout server 30s\n\n" + section)
    proc = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[WARNING]" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", sorted((ROOT / "components/redis/files").glob("*.sh")), ids=lambda p: p.name)
def test_host_helper_scripts_pass_shellcheck(script: Path) -> None:
    assert shutil.which("shellcheck"), "shellcheck is required (apt-get install shellcheck)"
    proc = subprocess.run(["shellcheck", "-x", str(script)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "set -euo pipefail" in script.read_text()
