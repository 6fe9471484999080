"""Stack configuration -> validated, typed, frozen settings.

`parse_settings` is pure (plain values in, dataclasses out) and is what the tests exercise;
`load_settings` reads the Pulumi config of the running stack, rejects keys this program does not
know, and attaches the secret values as Pulumi secrets. Both run before any resource is
registered, so a bad configuration touches nothing. Every key is documented in README.md
("Configuration reference"); the defaults per preset are in `PRESETS` below.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.validation import NAMESPACE, Reader, SettingsError, key_name

ROLES = ("k3sServers", "k3sAgents", "postgres", "redis", "monitoring", "edge")
APPS = ("nextcloud", "odoo", "keycloak", "mautic")
# Apps that keep their data in PostgreSQL. Mautic supports only MySQL/MariaDB (DESIGN.md).
POSTGRES_APPS = ("nextcloud", "odoo", "keycloak")
# Apps that use Redis and so get their own ACL user and key prefix.
REDIS_APPS = ("nextcloud", "mautic")
POOL_MODES = ("session", "transaction", "statement")
REDIS_POLICIES = (
    "noeviction", "allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu",
    "allkeys-random", "volatile-random", "volatile-ttl",
)
NAME_RE = r"[a-z][a-z0-9-]{0,62}"
DB_NAME_RE = r"[a-z][a-z0-9_]{0,62}"
CRON_RE = r"(\S+\s+){4}\S+"
SECRET_KEYS = ("sshPrivateKey", "s3AccessKey", "s3SecretKey")
TOP_LEVEL_KEYS = (
    "preset", "domain", "acmeEmail", "ssh", "hosts", "postgres", "redis", "monitoring", "s3",
    "k3s", "router", "mariadb", "apps",
) + SECRET_KEYS


@dataclass(frozen=True)
class Preset:
    """Sizing defaults; every field can be overridden by an explicit config key."""

    min_hosts: Mapping[str, int]
    memory_mb: Mapping[str, int]
    cpus: Mapping[str, int]
    postgres_synchronous: bool
    redis_quorum: int


PRESETS: dict[str, Preset] = {
    "mvp": Preset(
        min_hosts={"k3sServers": 1, "postgres": 1, "redis": 1, "monitoring": 1},
        memory_mb={"k3sServers": 8192, "k3sAgents": 8192, "postgres": 4096, "redis": 2048,
                   "monitoring": 4096, "edge": 1024},
        cpus={"k3sServers": 4, "k3sAgents": 4, "postgres": 2, "redis": 1, "monitoring": 2, "edge": 1},
        postgres_synchronous=False,
        redis_quorum=1,
    ),
    "prod-ha": Preset(
        min_hosts={"k3sServers": 3, "postgres": 2, "redis": 3, "monitoring": 1},
        memory_mb={"k3sServers": 8192, "k3sAgents": 16384, "postgres": 8192, "redis": 4096,
                   "monitoring": 8192, "edge": 2048},
        cpus={"k3sServers": 4, "k3sAgents": 8, "postgres": 4, "redis": 2, "monitoring": 4, "edge": 2},
        postgres_synchronous=True,
        redis_quorum=2,
    ),
}


@dataclass(frozen=True)
class Host:
    name: str
    role: str
    public_ip: str
    private_ip: str
    host_key: str | None
    memory_mb: int
    cpus: int


@dataclass(frozen=True)
class SshSettings:
    user: str
    port: int
    admin_sources: tuple[str, ...]
    dial_error_limit: int
    per_dial_timeout: int


@dataclass(frozen=True)
class Inventory:
    k3s_servers: tuple[Host, ...]
    k3s_agents: tuple[Host, ...]
    postgres: tuple[Host, ...]
    redis: tuple[Host, ...]
    monitoring: tuple[Host, ...]
    edge: tuple[Host, ...]

    def all(self) -> tuple[Host, ...]:
        return (self.k3s_servers + self.k3s_agents + self.postgres + self.redis
                + self.monitoring + self.edge)

    def by_name(self, name: str) -> Host:
        for h in self.all():
            if h.name == name:
                return h
        raise KeyError(name)


@dataclass(frozen=True)
class BackupSchedule:
    full_schedule: str
    incremental_schedule: str
    retention_full: int


@dataclass(frozen=True)
class PostgresSettings:
    version: int
    cluster_name: str
    synchronous: bool
    ttl: int
    loop_wait: int
    retry_timeout: int
    primary_start_timeout: int
    max_connections: int
    scram_iterations: int
    pool_mode: str
    pool_mode_overrides: Mapping[str, str]
    databases: tuple[str, ...]
    etcd_witness: str | None
    backup: BackupSchedule


@dataclass(frozen=True)
class RedisSettings:
    master_name: str
    maxmemory_mb: int
    maxmemory_policy: str
    quorum: int
    down_after_ms: int
    failover_timeout_ms: int
    tls: bool
    apps: tuple[str, ...]
    backup_schedule: str
    backup_retention_days: int


@dataclass(frozen=True)
class MonitoringSettings:
    retention_days: int
    scrape_interval_seconds: int
    alert_email: str | None


@dataclass(frozen=True)
class S3Buckets:
    nextcloud: str
    backups: str
    app_backups: str


@dataclass(frozen=True)
class S3Settings:
    endpoint: str
    region: str
    ca_certificate: str | None
    buckets: S3Buckets


@dataclass(frozen=True)
class K3sSettings:
    enabled: bool
    version: str
    metallb_range: str | None
    cluster_cidr: str
    service_cidr: str


@dataclass(frozen=True)
class RouterSettings:
    placement: str  # "k3s" (a Deployment in the cluster) or "vms" (the edge hosts)


@dataclass(frozen=True)
class AppSettings:
    name: str
    enabled: bool
    hostname: str


@dataclass(frozen=True)
class Secrets:
    """Secret config values, as Pulumi secrets. Generated passwords live in the components."""

    ssh_private_key: pulumi.Output[str]
    s3_access_key: pulumi.Output[str]
    s3_secret_key: pulumi.Output[str]


@dataclass(frozen=True)
class Settings:
    stack: str
    preset: str
    domain: str
    acme_email: str
    ssh: SshSettings
    hosts: Inventory
    postgres: PostgresSettings
    redis: RedisSettings
    monitoring: MonitoringSettings
    s3: S3Settings
    k3s: K3sSettings
    router: RouterSettings
    mariadb_enabled: bool
    apps: tuple[AppSettings, ...]
    secrets: Secrets | None = field(default=None, compare=False)

    def etcd_members(self) -> tuple[Host, ...]:
        """The DCS quorum: every PostgreSQL VM plus the witness, when one is configured."""
        witness = (self.hosts.by_name(self.postgres.etcd_witness),) if self.postgres.etcd_witness else ()
        return self.hosts.postgres + witness

    def router_hosts(self) -> tuple[Host, ...]:
        """Where the database/Redis router runs: the edge VMs, or the K3s nodes that host it."""
        if self.router.placement == "vms":
            return self.hosts.edge
        return self.hosts.k3s_servers + self.hosts.k3s_agents

    def enabled_apps(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.apps if a.enabled)


# --- parsing ---------------------------------------------------------------------------------


def _parse_hosts(r: Reader, raw: Any, preset: Preset, k3s_enabled: bool, router: str) -> Inventory:
    hosts_raw = r.obj("hosts", raw, ROLES)
    parsed: dict[str, tuple[Host, ...]] = {}
    for role in ROLES:
        path = f"hosts.{role}"
        items = hosts_raw.get(role)
        if items is None:
            items = []
        if not isinstance(items, list):
            r.problem(path, f"must be a list of hosts, got {type(items).__name__}")
            items = []
        role_hosts = []
        for i, item in enumerate(items):
            hp = f"{path}[{i}]"
            h = r.obj(hp, item, ("name", "publicIp", "privateIp", "hostKey", "memoryMb", "cpus"))
            if not isinstance(item, Mapping):
                continue
            name = r.string(f"{hp}.name", h.get("name"), "", pattern=NAME_RE,
                            what="a lower-case host name (letters, digits, '-')")
            if "name" not in h:
                r.problem(f"{hp}.name", "is required")
            if "privateIp" not in h:
                r.problem(f"{hp}.privateIp", "is required")
            private_ip = r.ip(f"{hp}.privateIp", h.get("privateIp")) if "privateIp" in h else ""
            public_ip = r.ip(f"{hp}.publicIp", h["publicIp"]) if "publicIp" in h else private_ip
            role_hosts.append(Host(
                name=name, role=role, public_ip=public_ip, private_ip=private_ip,
                host_key=r.optional_string(f"{hp}.hostKey", h.get("hostKey")),
                memory_mb=r.integer(f"{hp}.memoryMb", h.get("memoryMb"), preset.memory_mb[role],
                                    lo=512, hi=4 * 1024 * 1024),
                cpus=r.integer(f"{hp}.cpus", h.get("cpus"), preset.cpus[role], lo=1, hi=1024),
            ))
        parsed[role] = tuple(role_hosts)

    required = {"postgres": True, "redis": True, "monitoring": True,
                "k3sServers": k3s_enabled, "edge": router == "vms"}
    for role, needed in required.items():
        if needed and not parsed[role]:
            why = {"k3sServers": " (k3s.enabled is true)", "edge": " (router.placement is 'vms')"}
            r.problem(f"hosts.{role}", f"needs at least one host{why.get(role, '')}")
        elif needed and len(parsed[role]) < preset.min_hosts.get(role, 1):
            r.problem(f"hosts.{role}", f"has {len(parsed[role])} host(s); this preset needs at least "
                      f"{preset.min_hosts[role]}")
    if not k3s_enabled and parsed["k3sAgents"]:
        r.problem("hosts.k3sAgents", "lists hosts but k3s.enabled is false")
    if len(parsed["monitoring"]) > 1:
        r.problem("hosts.monitoring", f"has {len(parsed['monitoring'])} hosts; exactly one is supported")
    if k3s_enabled and len(parsed["k3sServers"]) % 2 == 0 and parsed["k3sServers"]:
        r.problem("hosts.k3sServers", f"has {len(parsed['k3sServers'])} servers; embedded etcd needs an "
                  "odd number (1, 3, 5)")

    seen_names: dict[str, str] = {}
    seen_ips: dict[str, str] = {}
    for role in ROLES:
        for i, host in enumerate(parsed[role]):
            where = f"hosts.{role}[{i}]"
            if host.name and host.name in seen_names:
                r.problem(f"{where}.name", f"duplicate host name {host.name!r} (also {seen_names[host.name]})")
            seen_names.setdefault(host.name, where)
            for attr, key in (("private_ip", "privateIp"), ("public_ip", "publicIp")):
                ip = getattr(host, attr)
                if not ip or (attr == "public_ip" and ip == host.private_ip):
                    continue
                if ip in seen_ips:
                    r.problem(f"{where}.{key}", f"duplicate address {ip} (also {seen_ips[ip]})")
                seen_ips.setdefault(ip, f"{where}.{key}")
    return Inventory(
        k3s_servers=parsed["k3sServers"], k3s_agents=parsed["k3sAgents"], postgres=parsed["postgres"],
        redis=parsed["redis"], monitoring=parsed["monitoring"], edge=parsed["edge"],
    )


def _parse_postgres(r: Reader, raw: Any, preset: Preset, inv: Inventory) -> PostgresSettings:
    p = r.obj("postgres", raw, (
        "version", "clusterName", "synchronous", "ttl", "loopWait", "retryTimeout",
        "primaryStartTimeout", "maxConnections", "scramIterations", "poolMode", "poolModeOverrides", "extraDatabases",
        "etcdWitness", "backup",
    ))
    version = r.integer("postgres.version", p.get("version"), 15, lo=15, hi=15)
    ttl = r.integer("postgres.ttl", p.get("ttl"), 20, lo=20, hi=300)
    loop_wait = r.integer("postgres.loopWait", p.get("loopWait"), 5, lo=1, hi=60)
    retry_timeout = r.integer("postgres.retryTimeout", p.get("retryTimeout"), 5, lo=3, hi=120)
    if loop_wait + 2 * retry_timeout > ttl:
        r.problem("postgres.ttl", f"loopWait ({loop_wait}) + 2 * retryTimeout ({retry_timeout}) must "
                  f"not exceed ttl ({ttl}); Patroni would lose the leader key while retrying")
    extra = r.string_list("postgres.extraDatabases", p.get("extraDatabases"), ())
    for i, name in enumerate(extra):
        r.string(f"postgres.extraDatabases[{i}]", name, "", pattern=DB_NAME_RE,
                 what="a lower-case SQL identifier")
        if name in POSTGRES_APPS:
            r.problem(f"postgres.extraDatabases[{i}]", f"{name!r} is already created for the app")
    pool_mode = r.string("postgres.poolMode", p.get("poolMode"), "session", allowed=POOL_MODES)
    overrides = r.string_map("postgres.poolModeOverrides", p.get("poolModeOverrides"), POOL_MODES)
    databases = POSTGRES_APPS + tuple(n for n in extra if n not in POSTGRES_APPS)
    for db in overrides:
        if db not in databases:
            r.problem(f"postgres.poolModeOverrides.{db}", f"no such database; known: {', '.join(databases)}")

    default_witness = inv.monitoring[0].name if len(inv.postgres) > 1 and inv.monitoring else None
    witness = r.optional_string("postgres.etcdWitness", p.get("etcdWitness")) or default_witness
    names = {h.name for h in inv.all()}
    if witness is not None and witness not in names:
        r.problem("postgres.etcdWitness", f"{witness!r} is not a host of the inventory")
        witness = None
    if witness is not None and witness in {h.name for h in inv.postgres}:
        r.problem("postgres.etcdWitness", f"{witness!r} is a PostgreSQL VM; the witness must be another VM")
        witness = None
    members = len(inv.postgres) + (1 if witness else 0)
    if len(inv.postgres) > 1 and members < 3:
        r.problem("postgres.etcdWitness", f"{len(inv.postgres)} PostgreSQL VMs need a third etcd member "
                  "on another VM, or the cluster loses quorum (and its primary) when either VM dies")
    elif inv.postgres and members % 2 == 0:
        r.problem("postgres.etcdWitness", f"gives {members} etcd members; etcd needs an odd number "
                  "(an even count tolerates no more failures than one member fewer)")

    b = r.obj("postgres.backup", p.get("backup"), ("fullSchedule", "incrementalSchedule", "retentionFull"))
    backup = BackupSchedule(
        full_schedule=r.string("postgres.backup.fullSchedule", b.get("fullSchedule"), "0 1 * * *",
                               pattern=CRON_RE, what="a 5-field cron expression"),
        incremental_schedule=r.string("postgres.backup.incrementalSchedule", b.get("incrementalSchedule"),
                                      "0 * * * *", pattern=CRON_RE, what="a 5-field cron expression"),
        retention_full=r.integer("postgres.backup.retentionFull", b.get("retentionFull"), 7, lo=1, hi=365),
    )
    mem = min((h.memory_mb for h in inv.postgres), default=4096)
    return PostgresSettings(
        version=version,
        cluster_name=r.string("postgres.clusterName", p.get("clusterName"), "platform-pg", pattern=NAME_RE,
                              what="a lower-case name"),
        synchronous=r.boolean("postgres.synchronous", p.get("synchronous"), preset.postgres_synchronous),
        ttl=ttl, loop_wait=loop_wait, retry_timeout=retry_timeout,
        primary_start_timeout=r.integer("postgres.primaryStartTimeout", p.get("primaryStartTimeout"), 10,
                                        lo=0, hi=600),
        max_connections=r.integer("postgres.maxConnections", p.get("maxConnections"),
                                  max(100, min(400, mem // 32)), lo=20, hi=5000),
        scram_iterations=r.integer("postgres.scramIterations", p.get("scramIterations"), 4096, lo=16, hi=100000),
        pool_mode=pool_mode, pool_mode_overrides=overrides, databases=databases,
        etcd_witness=witness, backup=backup,
    )


def _parse_redis(r: Reader, raw: Any, preset: Preset, inv: Inventory) -> RedisSettings:
    p = r.obj("redis", raw, ("masterName", "maxmemoryMb", "maxmemoryPolicy", "quorum", "downAfterMs",
                             "failoverTimeoutMs", "tls", "apps", "backup"))
    sentinels = len(inv.redis)
    quorum = r.integer("redis.quorum", p.get("quorum"), min(preset.redis_quorum, max(sentinels, 1)),
                       lo=1, hi=9)
    if sentinels and quorum > sentinels:
        r.problem("redis.quorum", f"is {quorum} but there are only {sentinels} Sentinels (one per Redis VM)")
    if sentinels > 1 and quorum <= sentinels // 2:
        r.problem("redis.quorum", f"is {quorum}; with {sentinels} Sentinels it must be a majority "
                  f"(at least {sentinels // 2 + 1}) or two partitions could each elect a master")
    mem = min((h.memory_mb for h in inv.redis), default=2048)
    apps = r.string_list("redis.apps", p.get("apps"), REDIS_APPS)
    for i, a in enumerate(apps):
        r.string(f"redis.apps[{i}]", a, "", pattern=NAME_RE, what="a lower-case name")
    b = r.obj("redis.backup", p.get("backup"), ("schedule", "retentionDays"))
    backup_schedule = r.string("redis.backup.schedule", b.get("schedule"), "30 2 * * *",
                               pattern=CRON_RE, what="a 5-field cron expression")
    from components.redis.schedule import cron_to_oncalendar  # here: the package imports this module

    try:
        cron_to_oncalendar(backup_schedule)  # the backup runs from a systemd timer
    except ValueError as e:
        r.problem("redis.backup.schedule", f"got {backup_schedule!r}: {e}")
        backup_schedule = "30 2 * * *"
    return RedisSettings(
        master_name=r.string("redis.masterName", p.get("masterName"), "platform", pattern=NAME_RE,
                             what="a lower-case name"),
        # Half the VM: AOF rewrites and RDB snapshots fork, and copy-on-write needs headroom.
        maxmemory_mb=r.integer("redis.maxmemoryMb", p.get("maxmemoryMb"), max(64, mem // 2),
                               lo=16, hi=4 * 1024 * 1024),
        maxmemory_policy=r.string("redis.maxmemoryPolicy", p.get("maxmemoryPolicy"), "volatile-lru",
                                  allowed=REDIS_POLICIES),
        quorum=quorum,
        # 3000 ms: writes resume via Sentinel in ~4.5 s after a master dies (5000 gave 6.5 s on
        # the lab); lower values fail over on shorter network blips.
        down_after_ms=r.integer("redis.downAfterMs", p.get("downAfterMs"), 3000, lo=1000, hi=600000),
        failover_timeout_ms=r.integer("redis.failoverTimeoutMs", p.get("failoverTimeoutMs"), 60000,
                                      lo=5000, hi=3600000),
        tls=r.boolean("redis.tls", p.get("tls"), False),
        apps=apps,
        backup_schedule=backup_schedule,
        backup_retention_days=r.integer("redis.backup.retentionDays", b.get("retentionDays"), 14,
                                        lo=1, hi=3650),
    )


def _parse_s3(r: Reader, raw: Any, stack: str) -> S3Settings:
    p = r.obj("s3", raw, ("endpoint", "region", "caCertificate", "buckets"))
    if "endpoint" not in p:
        r.problem("s3.endpoint", "is required (https URL of the S3-compatible object store)")
    endpoint = r.string("s3.endpoint", p.get("endpoint"), "https://s3.invalid",
                        pattern=r"https://[A-Za-z0-9.\-\[\]:]+(/.*)?",
                        what="an https:// URL (pgBackRest's S3 client speaks only HTTPS)")
    ca = r.optional_string("s3.caCertificate", p.get("caCertificate"))
    if ca is not None and "-----BEGIN CERTIFICATE-----" not in ca:
        r.problem("s3.caCertificate", "must be a PEM certificate")
    b = r.obj("s3.buckets", p.get("buckets"), ("nextcloud", "backups", "appBackups"))
    bucket_re = r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]"
    buckets = S3Buckets(
        nextcloud=r.string("s3.buckets.nextcloud", b.get("nextcloud"), f"platform-{stack}-nextcloud",
                           pattern=bucket_re, what="an S3 bucket name"),
        backups=r.string("s3.buckets.backups", b.get("backups"), f"platform-{stack}-backups",
                         pattern=bucket_re, what="an S3 bucket name"),
        app_backups=r.string("s3.buckets.appBackups", b.get("appBackups"), f"platform-{stack}-app-backups",
                             pattern=bucket_re, what="an S3 bucket name"),
    )
    if len({buckets.nextcloud, buckets.backups, buckets.app_backups}) < 3:
        r.problem("s3.buckets", "the three buckets must have different names")
    return S3Settings(endpoint=endpoint, region=r.string("s3.region", p.get("region"), "us-east-1"),
                      ca_certificate=ca, buckets=buckets)


def parse_settings(values: Mapping[str, Any], stack: str) -> Settings:
    """Validate the whole stack config (keys without the `platform:` prefix, values JSON-decoded).

    Raises SettingsError listing every problem; returns Settings without secrets attached.
    """
    r = Reader()
    for k in values:
        if k not in TOP_LEVEL_KEYS:
            r.problem(k, f"unknown key {k!r}; allowed keys: {', '.join(sorted(TOP_LEVEL_KEYS))}")
    for k in SECRET_KEYS:
        if values.get(k) in (None, ""):
            r.problem(k, f"is required; set it with `pulumi config set --secret {key_name(k)}`")

    preset_name = r.string("preset", values.get("preset"), "mvp", allowed=tuple(PRESETS))
    if "preset" not in values:
        r.problem("preset", f"is required; allowed: {', '.join(PRESETS)}")
    preset = PRESETS[preset_name]
    domain = r.string("domain", values.get("domain"), "example.invalid",
                      pattern=r"([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}", what="a DNS domain")
    if "domain" not in values:
        r.problem("domain", "is required (the apps are served below it)")

    s = r.obj("ssh", values.get("ssh"), ("user", "port", "adminSources", "dialErrorLimit", "perDialTimeout"))
    admin = r.string_list("ssh.adminSources", s.get("adminSources"), ())
    if not admin:
        r.problem("ssh.adminSources", "needs at least one address or CIDR block allowed to reach SSH "
                  "(the firewall denies everything else)")
    ssh = SshSettings(
        user=r.string("ssh.user", s.get("user"), "deploy", pattern=r"[a-z_][a-z0-9_-]{0,31}",
                      what="a POSIX user name"),
        port=r.integer("ssh.port", s.get("port"), 22, lo=1, hi=65535),
        admin_sources=tuple(r.cidr(f"ssh.adminSources[{i}]", a) for i, a in enumerate(admin)),
        dial_error_limit=r.integer("ssh.dialErrorLimit", s.get("dialErrorLimit"), 10, lo=1, hi=100),
        per_dial_timeout=r.integer("ssh.perDialTimeout", s.get("perDialTimeout"), 15, lo=1, hi=300),
    )

    kc = r.obj("k3s", values.get("k3s"), ("enabled", "version", "metallbRange", "clusterCidr", "serviceCidr"))
    k3s = K3sSettings(
        enabled=r.boolean("k3s.enabled", kc.get("enabled"), True),
        version=r.string("k3s.version", kc.get("version"), "v1.30.6+k3s1", pattern=r"v\d+\.\d+\.\d+\+k3s\d+",
                         what="a K3s release such as v1.30.6+k3s1"),
        metallb_range=r.optional_string("k3s.metallbRange", kc.get("metallbRange")),
        cluster_cidr=r.cidr("k3s.clusterCidr", kc.get("clusterCidr", "10.42.0.0/16")),
        service_cidr=r.cidr("k3s.serviceCidr", kc.get("serviceCidr", "10.43.0.0/16")),
    )
    if ssh.user == "root":
        r.problem("ssh.user", "must be a non-root user with passwordless sudo, not 'root'")
    if k3s.metallb_range is not None:
        parts = k3s.metallb_range.split("-")
        try:
            if len(parts) != 2:
                raise ValueError
            lo_ip, hi_ip = (ipaddress.ip_address(x.strip()) for x in parts)
            if lo_ip > hi_ip:  # type: ignore[operator]
                raise ValueError
        except (ValueError, TypeError):
            r.problem("k3s.metallbRange", f"got {k3s.metallb_range!r}; expected FIRST-LAST addresses, "
                      "e.g. 203.0.113.200-203.0.113.210")

    ro = r.obj("router", values.get("router"), ("placement",))
    router = RouterSettings(placement=r.string("router.placement", ro.get("placement"), "k3s",
                                               allowed=("k3s", "vms")))
    if router.placement == "k3s" and not k3s.enabled:
        r.problem("router.placement", "is 'k3s' but k3s.enabled is false; use 'vms' with hosts.edge")

    inv = _parse_hosts(r, values.get("hosts"), preset, k3s.enabled, router.placement)
    postgres = _parse_postgres(r, values.get("postgres"), preset, inv)
    redis = _parse_redis(r, values.get("redis"), preset, inv)

    m = r.obj("monitoring", values.get("monitoring"), ("retentionDays", "scrapeIntervalSeconds", "alertEmail"))
    monitoring = MonitoringSettings(
        retention_days=r.integer("monitoring.retentionDays", m.get("retentionDays"), 15, lo=1, hi=3650),
        scrape_interval_seconds=r.integer("monitoring.scrapeIntervalSeconds", m.get("scrapeIntervalSeconds"),
                                          15, lo=5, hi=300),
        alert_email=r.optional_string("monitoring.alertEmail", m.get("alertEmail")),
    )
    s3 = _parse_s3(r, values.get("s3"), stack)

    ma = r.obj("mariadb", values.get("mariadb"), ("enabled",))
    a = r.obj("apps", values.get("apps"), APPS)
    apps = []
    for name in APPS:
        ap = r.obj(f"apps.{name}", a.get(name), ("enabled", "hostname"))
        enabled = r.boolean(f"apps.{name}.enabled", ap.get("enabled"), k3s.enabled)
        if enabled and not k3s.enabled:
            r.problem(f"apps.{name}.enabled", "is true but k3s.enabled is false; the apps run only in K3s")
        apps.append(AppSettings(name=name, enabled=enabled,
                                hostname=r.string(f"apps.{name}.hostname", ap.get("hostname"),
                                                  f"{name}.{domain}")))
    mautic_on = any(x.enabled for x in apps if x.name == "mautic")
    mariadb_enabled = r.boolean("mariadb.enabled", ma.get("enabled"), mautic_on)
    if mautic_on and not mariadb_enabled:
        r.problem("mariadb.enabled", "is false but apps.mautic is enabled; Mautic supports only MySQL/MariaDB")

    if r.problems:
        raise SettingsError(r.problems)
    return Settings(
        stack=stack, preset=preset_name, domain=domain,
        acme_email=r.string("acmeEmail", values.get("acmeEmail"), f"admin@{domain}"),
        ssh=ssh, hosts=inv, postgres=postgres, redis=redis, monitoring=monitoring, s3=s3, k3s=k3s,
        router=router, mariadb_enabled=mariadb_enabled, apps=tuple(apps),
    )


# --- reading the running stack ------------------------------------------------------------------


def raw_stack_config() -> dict[str, Any]:
    """Every `platform:*` key of the running stack, JSON objects decoded, prefix removed."""
    from pulumi.runtime import config as rc

    merged: dict[str, Any] = dict(rc.get_config_env())
    merged.update(rc.CONFIG.get())
    out: dict[str, Any] = {}
    for full_key, value in merged.items():
        ns, _, key = full_key.partition(":")
        if ns != NAMESPACE:
            continue
        if isinstance(value, str) and value[:1] in "[{":
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        out[key] = value
    return out


def load_settings() -> Settings:
    """Validate the running stack's config; raise SettingsError before any resource exists."""
    from pulumi.runtime import config as rc

    values = raw_stack_config()
    problems: list[str] = []
    try:
        settings = parse_settings(values, pulumi.get_stack())
    except SettingsError as e:
        problems = e.problems
    for k in SECRET_KEYS:
        if values.get(k) not in (None, "") and not rc.is_config_secret(key_name(k)):
            problems.append(f"{key_name(k)}: is stored in plain text; set it with "
                            f"`pulumi config set --secret {key_name(k)}`")
    if problems:
        raise SettingsError(problems)
    cfg = pulumi.Config(NAMESPACE)
    secrets = Secrets(
        ssh_private_key=cfg.require_secret("sshPrivateKey"),
        s3_access_key=cfg.require_secret("s3AccessKey"),
        s3_secret_key=cfg.require_secret("s3SecretKey"),
    )
    return dataclasses.replace(settings, secrets=secrets)
