"""Stack configuration (plain values) -> validated, typed, frozen settings. Pure: no Pulumi imports.

`parse_settings` is what the program (through `components.settings.load`), `scripts/render`,
`scripts/verify` and the tests run. Every problem is collected and reported at once, naming the
config key, before any resource is registered. Every key is documented in README.md
("Configuration reference"); the defaults per preset are in `presets.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.settings.apps import parse_apps
from components.settings.k3s import parse_k3s, read_enabled
from components.settings.mariadb import parse_mariadb
from components.settings.model import (
    ALWAYS,
    OPTIONAL_SECRET_KEYS,
    POSTGRES_APPS,
    REDIS_APPS,
    ROLE_KEYS,
    ROLES,
    SECRET_KEYS,
    WITH_K3S,
    WITH_ROUTER_VMS,
    BackupSchedule,
    Host,
    Inventory,
    PostgresSettings,
    RedisSettings,
    RouterSettings,
    S3Buckets,
    S3Settings,
    Settings,
    SshSettings,
)
from components.settings.monitoring import parse_monitoring
from components.settings.presets import PRESETS, Preset
from components.settings.reader import NAME_RE, NAME_WHAT, Reader, SettingsError, control_problem, cron, key_name

POOL_MODES = ("session", "transaction", "statement")
REDIS_POLICIES = (
    "noeviction", "allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu",
    "allkeys-random", "volatile-random", "volatile-ttl",
)
DB_NAME_RE = r"[a-z][a-z0-9_]{0,62}"
DOMAIN_RE = r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
EMAIL_RE = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
HOST_KEY_RE = (r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|"
               r"sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [!-~]+)?")
# The S3 endpoint is a host (and port): pgBackRest's repo1-s3-endpoint and s3cmd's host_base take
# no path, so one would be dropped silently.
S3_ENDPOINT_RE = r"https://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(:\d{1,5})?/?"
REDIS_MEMORY_SHARE = 0.75  # maxmemory at most this share of the smallest Redis VM (forks need the rest)
TOP_LEVEL_KEYS = (
    "preset", "domain", "acmeEmail", "ssh", "hosts", "postgres", "redis", "monitoring", "s3",
    "k3s", "router", "mariadb", "apps",
) + SECRET_KEYS + OPTIONAL_SECRET_KEYS


def _needed(needed: str, k3s_enabled: bool, router: str) -> tuple[bool, str]:
    """Whether a role must have hosts, and why (for the message)."""
    if needed == ALWAYS:
        return True, ""
    if needed == WITH_K3S:
        return k3s_enabled, " (k3s.enabled is true)"
    if needed == WITH_ROUTER_VMS:
        return router == "vms", " (router.placement is 'vms')"
    return False, ""


def _parse_hosts(r: Reader, raw: Any, preset: Preset, k3s_enabled: bool, router: str) -> Inventory:
    hosts_raw = r.obj("hosts", raw, ROLE_KEYS)
    parsed: dict[str, tuple[Host, ...]] = {}
    for role in ROLE_KEYS:
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
            if item is None:
                r.problem(hp, "is null; each host is an object with at least name and privateIp")
                continue
            h = r.obj(hp, item, ("name", "publicIp", "privateIp", "hostKey", "memoryMb", "cpus"))
            if not isinstance(item, Mapping):
                continue
            name = r.string(f"{hp}.name", h.get("name"), "", pattern=NAME_RE, what=NAME_WHAT)
            r.required(f"{hp}.name", h.get("name"), "the VM's host name")
            has_ip = r.required(f"{hp}.privateIp", h.get("privateIp"), "the VM's address on the private network")
            private_ip = r.ip(f"{hp}.privateIp", h.get("privateIp")) if has_ip else ""
            public_ip = r.ip(f"{hp}.publicIp", h["publicIp"]) if h.get("publicIp") is not None else private_ip
            role_hosts.append(Host(
                name=name, role=role, public_ip=public_ip, private_ip=private_ip,
                host_key=r.optional_string(f"{hp}.hostKey", h.get("hostKey"), pattern=HOST_KEY_RE,
                                           what="one OpenSSH public key line, e.g. 'ssh-ed25519 AAAA...'"),
                memory_mb=r.integer(f"{hp}.memoryMb", h.get("memoryMb"), preset.memory_mb[role],
                                    lo=512, hi=4 * 1024 * 1024),
                cpus=r.integer(f"{hp}.cpus", h.get("cpus"), preset.cpus[role], lo=1, hi=1024),
            ))
        parsed[role] = tuple(role_hosts)

    for spec in ROLES:
        role, count = spec.key, len(parsed[spec.key])
        path = f"hosts.{role}"
        needed, why = _needed(spec.needed, k3s_enabled, router)
        if needed and not count:
            r.problem(path, f"needs at least one host{why}")
        elif needed and count < preset.min_hosts.get(role, 1):
            r.problem(path, f"has {count} host(s); this preset needs at least {preset.min_hosts[role]}")
        if spec.only_with_k3s and not k3s_enabled and count:
            r.problem(path, "lists hosts but k3s.enabled is false")
        if spec.max_hosts is not None and count > spec.max_hosts:
            r.problem(path, f"has {count} hosts; exactly one is supported" if spec.max_hosts == 1
                      else f"has {count} hosts; at most {spec.max_hosts} are supported")
        if spec.odd and k3s_enabled and count and count % 2 == 0:
            r.problem(path, f"has {count} servers; embedded etcd needs an odd number (1, 3, 5)")

    seen_names: dict[str, str] = {}
    seen_ips: dict[str, str] = {}
    for role in ROLE_KEYS:
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
    return Inventory(roles=parsed)


def _parse_postgres(r: Reader, raw: Any, preset: Preset, inv: Inventory) -> PostgresSettings:
    p = r.obj("postgres", raw, (
        "version", "clusterName", "synchronous", "ttl", "loopWait", "retryTimeout",
        "primaryStartTimeout", "maxConnections", "scramIterations", "poolMode", "poolModeOverrides", "extraDatabases",
        "etcdWitness", "backup", "etcdHeartbeatMs", "etcdElectionTimeoutMs",
    ))
    version = r.integer("postgres.version", p.get("version"), 15, lo=15, hi=15)
    ttl = r.integer("postgres.ttl", p.get("ttl"), 20, lo=20, hi=300)
    loop_wait = r.integer("postgres.loopWait", p.get("loopWait"), 10, lo=1, hi=60)
    retry_timeout = r.integer("postgres.retryTimeout", p.get("retryTimeout"), 5, lo=3, hi=120)
    if loop_wait + 2 * retry_timeout > ttl:
        r.problem("postgres.ttl", f"loopWait ({loop_wait}) + 2 * retryTimeout ({retry_timeout}) must "
                  f"not exceed ttl ({ttl}); Patroni would lose the leader key while retrying")
    heartbeat = r.integer("postgres.etcdHeartbeatMs", p.get("etcdHeartbeatMs"), 100, lo=10, hi=1000)
    election = r.integer("postgres.etcdElectionTimeoutMs", p.get("etcdElectionTimeoutMs"), 1000, lo=50, hi=50000)
    if election < 5 * heartbeat:
        r.problem("postgres.etcdElectionTimeoutMs", f"{election} is less than 5 x etcdHeartbeatMs ({heartbeat}); "
                  "etcd refuses to start")
    if 2 * election > 1000 * retry_timeout:
        r.problem("postgres.etcdElectionTimeoutMs", f"{election} ms: an etcd election (up to ~2 election timeouts) "
                  f"must fit in Patroni's retryTimeout ({retry_timeout} s), or a routine election demotes the primary")
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

    # The witness makes an even number of database VMs an odd etcd membership; with an odd number
    # (1, 3, 5) etcd runs on the database VMs alone. `none` switches it off explicitly.
    pg_count = len(inv["postgres"])
    default_witness = inv["monitoring"][0].name if pg_count % 2 == 0 and inv["monitoring"] else None
    raw_witness = r.optional_string("postgres.etcdWitness", p.get("etcdWitness"))
    witness = None if raw_witness == "none" else raw_witness or default_witness
    names = {h.name for h in inv.all()}
    if witness is not None and witness not in names:
        r.problem("postgres.etcdWitness", f"{witness!r} is not a host of the inventory; allowed: a host "
                  "name that is not a PostgreSQL VM, or 'none'")
        witness = None
    if witness is not None and witness in {h.name for h in inv["postgres"]}:
        r.problem("postgres.etcdWitness", f"{witness!r} is a PostgreSQL VM; the witness must be another VM")
        witness = None
    members = pg_count + (1 if witness else 0)
    if pg_count > 1 and members < 3:
        r.problem("postgres.etcdWitness", f"{pg_count} PostgreSQL VMs need a third etcd member "
                  "on another VM (name one, e.g. the monitoring VM), or the cluster loses quorum (and its "
                  "primary) when either VM dies")
    elif pg_count and members % 2 == 0:
        fix = "set postgres.etcdWitness to 'none'" if witness else "name a witness VM in postgres.etcdWitness"
        r.problem("postgres.etcdWitness", f"gives {members} etcd members ({pg_count} PostgreSQL VMs"
                  f"{' + witness ' + witness if witness else ''}); etcd needs an odd number (an even count "
                  f"tolerates no more failures than one member fewer): {fix}")

    b = r.obj("postgres.backup", p.get("backup"), ("fullSchedule", "incrementalSchedule", "retentionFull"))
    backup = BackupSchedule(
        full_schedule=cron(r, "postgres.backup.fullSchedule", b.get("fullSchedule"), "0 1 * * *"),
        incremental_schedule=cron(r, "postgres.backup.incrementalSchedule", b.get("incrementalSchedule"),
                                   "0 * * * *"),
        retention_full=r.integer("postgres.backup.retentionFull", b.get("retentionFull"), 7, lo=1, hi=365),
    )
    mem = min((h.memory_mb for h in inv["postgres"]), default=4096)
    return PostgresSettings(
        version=version,
        cluster_name=r.string("postgres.clusterName", p.get("clusterName"), "platform-pg", pattern=NAME_RE,
                              what=NAME_WHAT),
        synchronous=r.boolean("postgres.synchronous", p.get("synchronous"), preset.postgres_synchronous),
        ttl=ttl, loop_wait=loop_wait, retry_timeout=retry_timeout,
        primary_start_timeout=r.integer("postgres.primaryStartTimeout", p.get("primaryStartTimeout"), 10,
                                        lo=0, hi=600),
        max_connections=r.integer("postgres.maxConnections", p.get("maxConnections"),
                                  max(100, min(400, mem // 32)), lo=20, hi=5000),
        scram_iterations=r.integer("postgres.scramIterations", p.get("scramIterations"), 4096, lo=16, hi=100000),
        pool_mode=pool_mode, pool_mode_overrides=overrides, databases=databases,
        etcd_witness=witness, backup=backup, etcd_heartbeat_ms=heartbeat, etcd_election_timeout_ms=election,
    )


def _parse_redis(r: Reader, raw: Any, preset: Preset, inv: Inventory) -> RedisSettings:
    p = r.obj("redis", raw, ("masterName", "maxmemoryMb", "maxmemoryPolicy", "quorum", "downAfterMs",
                             "failoverTimeoutMs", "tls", "apps", "backup"))
    sentinels = len(inv["redis"])
    # Default: a majority of the Sentinels, so that it always validates (1 -> 1, 3 -> 2, 5 -> 3).
    quorum = r.integer("redis.quorum", p.get("quorum"), sentinels // 2 + 1, lo=1, hi=9)
    if sentinels and quorum > sentinels:
        r.problem("redis.quorum", f"is {quorum} but there are only {sentinels} Sentinels (one per Redis VM)")
    if sentinels > 1 and quorum <= sentinels // 2:
        r.problem("redis.quorum", f"is {quorum}; with {sentinels} Sentinels it must be a majority "
                  f"(at least {sentinels // 2 + 1}) or two partitions could each elect a master")
    mem = min((h.memory_mb for h in inv["redis"]), default=2048)
    apps = r.string_list("redis.apps", p.get("apps"), REDIS_APPS)
    for i, a in enumerate(apps):
        r.string(f"redis.apps[{i}]", a, "", pattern=NAME_RE, what=NAME_WHAT)
    b = r.obj("redis.backup", p.get("backup"), ("schedule", "retentionDays"))
    backup_schedule = cron(r, "redis.backup.schedule", b.get("schedule"), "30 2 * * *")
    maxmemory = r.integer("redis.maxmemoryMb", p.get("maxmemoryMb"), max(64, mem // 2), lo=16, hi=4 * 1024 * 1024)
    if inv["redis"] and maxmemory > mem * REDIS_MEMORY_SHARE:
        r.problem("redis.maxmemoryMb", f"{maxmemory} MB is more than {int(REDIS_MEMORY_SHARE * 100)}% of the "
                  f"smallest Redis VM ({mem} MB, hosts.redis[].memoryMb): the fork for RDB/AOF rewrites needs the "
                  f"rest; at most {int(mem * REDIS_MEMORY_SHARE)}")
    return RedisSettings(
        master_name=r.string("redis.masterName", p.get("masterName"), "platform", pattern=NAME_RE,
                             what=NAME_WHAT),
        # Default half the VM: AOF rewrites and RDB snapshots fork, and copy-on-write needs headroom.
        maxmemory_mb=maxmemory,
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
    p = r.obj("s3", raw, ("endpoint", "region", "caCertificate", "buckets", "nextcloudNoncurrentDays",
                          "appBackupsDays", "blockPublicAccess", "serverSideEncryption", "lifecycleMarginDays"))
    r.required("s3.endpoint", p.get("endpoint"), "https URL of the S3-compatible object store")
    endpoint = r.string("s3.endpoint", p.get("endpoint"), "https://s3.invalid", pattern=S3_ENDPOINT_RE,
                        what="https://HOST[:PORT] without a path (pgBackRest's S3 client speaks only HTTPS, "
                             "and neither it nor s3cmd takes a path)").rstrip("/")
    ca = r.optional_string("s3.caCertificate", p.get("caCertificate"), multiline=True)
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
    region = r.string("s3.region", p.get("region"), "us-east-1", pattern=r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}",
                      what="a region name (letters, digits, '-', '_')")
    return S3Settings(
        endpoint=endpoint, region=region, ca_certificate=ca, buckets=buckets,
        nextcloud_noncurrent_days=r.integer("s3.nextcloudNoncurrentDays", p.get("nextcloudNoncurrentDays"), 30,
                                            lo=1, hi=3650),
        app_backups_days=r.integer("s3.appBackupsDays", p.get("appBackupsDays"), 30, lo=1, hi=3650),
        block_public_access=r.boolean("s3.blockPublicAccess", p.get("blockPublicAccess"), True),
        server_side_encryption=r.string("s3.serverSideEncryption", p.get("serverSideEncryption"), "none",
                                        allowed=("none", "AES256")),
        lifecycle_margin_days=r.integer("s3.lifecycleMarginDays", p.get("lifecycleMarginDays"), 14, lo=1, hi=3650),
    )


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
    for k in SECRET_KEYS + OPTIONAL_SECRET_KEYS:
        v = values.get(k)
        # The value is secret: the message says what is wrong, never the value.
        if v not in (None, "") and not isinstance(v, str):
            r.problem(k, f"must be a string, got {type(v).__name__}")
        elif isinstance(v, str) and control_problem(v, multiline=(k == "sshPrivateKey")):
            r.problem(k, "contains a control character (a newline?); the value lands in host files as one line")

    preset_name = r.string("preset", values.get("preset"), "mvp", allowed=tuple(PRESETS))
    r.required("preset", values.get("preset"), f"allowed: {', '.join(PRESETS)}")
    preset = PRESETS[preset_name]
    domain = r.string("domain", values.get("domain"), "example.invalid", pattern=DOMAIN_RE,
                      what="a lower-case DNS domain of at most 253 characters")
    r.required("domain", values.get("domain"), "the apps are served below it")
    acme_email = r.string("acmeEmail", values.get("acmeEmail"), f"admin@{domain}", pattern=EMAIL_RE,
                          what="an e-mail address (Let's Encrypt's account contact)")

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

    if ssh.user == "root":
        r.problem("ssh.user", "must be a non-root user with passwordless sudo, not 'root'")
    kc, k3s_enabled = read_enabled(r, values.get("k3s"))

    ro = r.obj("router", values.get("router"), ("placement",))
    router = RouterSettings(placement=r.string("router.placement", ro.get("placement"), "k3s",
                                               allowed=("k3s", "vms")))
    if router.placement == "k3s" and not k3s_enabled:
        r.problem("router.placement", "is 'k3s' but k3s.enabled is false; use 'vms' with hosts.edge")

    inv = _parse_hosts(r, values.get("hosts"), preset, k3s_enabled, router.placement)
    k3s = parse_k3s(r, kc, k3s_enabled, preset_name, inv)
    postgres = _parse_postgres(r, values.get("postgres"), preset, inv)
    redis = _parse_redis(r, values.get("redis"), preset, inv)

    monitoring = parse_monitoring(r, values.get("monitoring"), domain, values)
    s3 = _parse_s3(r, values.get("s3"), stack)

    apps = parse_apps(r, values.get("apps"), k3s, domain, acme_email)
    mautic_on = any(x.enabled for x in apps if x.name == "mautic")
    mariadb = parse_mariadb(r, values.get("mariadb"), inv, postgres, mautic_on)

    if r.problems:
        raise SettingsError(r.problems)
    return Settings(
        stack=stack, preset=preset_name, domain=domain,
        acme_email=acme_email,
        ssh=ssh, hosts=inv, postgres=postgres, redis=redis, monitoring=monitoring, s3=s3, k3s=k3s,
        router=router, mariadb=mariadb, apps=apps,
    )


