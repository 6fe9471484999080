"""The validated settings as frozen dataclasses, and the host roles as data. Pure: no Pulumi imports.

`ROLES` is the one table of host roles: the config key under `hosts`, the host groups a role
belongs to besides its own key, when hosts are needed, and how many. The parser, the firewall
matrix and the components read roles from here, so a new role is one row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from components.settings.monitoring import MonitoringSettings

if TYPE_CHECKING:  # the values are Pulumi Outputs; importing pulumi here would make renderers import it
    import pulumi

APPS = ("nextcloud", "odoo", "keycloak", "mautic")
# Apps that keep their data in PostgreSQL. Mautic supports only MySQL/MariaDB (DESIGN.md).
POSTGRES_APPS = ("nextcloud", "odoo", "keycloak")
# Apps that use Redis and so get their own ACL user and key prefix.
REDIS_APPS = ("nextcloud", "mautic")
SECRET_KEYS = ("sshPrivateKey", "s3AccessKey", "s3SecretKey")
# Secret keys that may be left unset (Alertmanager receivers).
OPTIONAL_SECRET_KEYS = ("smtpPassword", "slackWebhookUrl", "deadMansSwitchUrl")

# When a role must have hosts: always, only with K3s, only with the router on VMs, or never.
ALWAYS, WITH_K3S, WITH_ROUTER_VMS, OPTIONAL = "always", "k3s.enabled", "router.placement=vms", "optional"


@dataclass(frozen=True)
class Role:
    key: str  # `hosts.<key>` in the stack config; also the name of its host group
    needed: str  # ALWAYS | WITH_K3S | WITH_ROUTER_VMS | OPTIONAL
    groups: tuple[str, ...] = ()  # further host groups its hosts belong to
    only_with_k3s: bool = False  # hosts listed while k3s.enabled is false are an error
    max_hosts: int | None = None
    odd: bool = False  # embedded etcd: an odd number of hosts
    # Interfaces whose traffic the firewall trusts on these hosts (the K3s pod network).
    trusted_ifaces: tuple[str, ...] = ()


ROLES: tuple[Role, ...] = (
    Role("k3sServers", WITH_K3S, groups=("k3s",), odd=True,
         trusted_ifaces=("cni0", "flannel.1")),
    Role("k3sAgents", OPTIONAL, groups=("k3s",), only_with_k3s=True, trusted_ifaces=("cni0", "flannel.1")),
    Role("postgres", ALWAYS),
    Role("redis", ALWAYS),
    Role("monitoring", ALWAYS, max_hosts=1),
    Role("edge", WITH_ROUTER_VMS),
)
ROLE_KEYS = tuple(r.key for r in ROLES)


def role(key: str) -> Role:
    for r in ROLES:
        if r.key == key:
            return r
    raise KeyError(key)


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
    """role key -> its hosts (every role of ROLES present, possibly empty), and the groups derived."""

    roles: Mapping[str, tuple[Host, ...]]

    def __getitem__(self, key: str) -> tuple[Host, ...]:
        if key not in ROLE_KEYS:
            raise KeyError(f"unknown role {key!r}")
        return self.roles.get(key, ())

    def all(self) -> tuple[Host, ...]:
        return tuple(h for r in ROLES for h in self[r.key])

    def groups(self) -> dict[str, tuple[Host, ...]]:
        """Host groups of the inventory: `all`, every role key, and the groups roles belong to."""
        out: dict[str, tuple[Host, ...]] = {"all": self.all()}
        for r in ROLES:
            out[r.key] = self[r.key]
            for g in r.groups:
                out[g] = out.get(g, ()) + self[r.key]
        return out

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
    etcd_heartbeat_ms: int = 100
    etcd_election_timeout_ms: int = 1000


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
class MariadbSettings:
    enabled: bool
    cluster_name: str  # Galera's wsrep_cluster_name
    max_connections: int
    buffer_pool_mb: int
    # Galera runs on 2+ database VMs; its arbitrator (garbd) on the etcd witness (the same quorum
    # shape), None when the database VMs alone are an odd number. One VM: no Galera.
    arbitrator: str | None
    full_schedule: str
    incremental_schedule: str
    retention_days: int

    def galera(self, db_vms: int) -> bool:
        return db_vms > 1


@dataclass(frozen=True)
class S3Buckets:
    nextcloud: str
    backups: str
    app_backups: str

    def by_key(self) -> dict[str, str]:
        """Bucket key (as in `s3.buckets.<key>` and the `buckets` output) -> bucket name."""
        return {"nextcloud": self.nextcloud, "backups": self.backups, "appBackups": self.app_backups}


@dataclass(frozen=True)
class S3Settings:
    endpoint: str
    region: str
    ca_certificate: str | None
    buckets: S3Buckets
    nextcloud_noncurrent_days: int = 30  # old versions of Nextcloud's objects kept this long
    app_backups_days: int = 30  # objects in the appBackups bucket expire after this long
    block_public_access: bool = True  # a PublicAccessBlock on every bucket (not every endpoint has it)
    server_side_encryption: str = "none"  # none | AES256 (SSE-S3)
    lifecycle_margin_days: int = 14  # backup prefixes with their own pruning: the rule's days past retention


@dataclass(frozen=True)
class K3sSettings:
    enabled: bool
    version: str  # vX.Y.Z+k3sN
    artifact_url: str | None  # air-gapped: base URL of the release files, else GitHub's release
    api_endpoint: str  # host name or IPv4 address clients use for the API (port 6443)
    servers_run_workloads: bool  # false: servers tainted CriticalAddonsOnly=true:NoExecute
    metallb_range: str | None  # FIRST-LAST
    node_network: str  # CIDR of the nodes' (public) network, where MetalLB announces
    cluster_cidr: str
    service_cidr: str
    snapshot_schedule: str  # cron, etcd-snapshot-schedule-cron
    snapshot_retention: int  # snapshots kept per server, locally and in S3


@dataclass(frozen=True)
class RouterSettings:
    placement: str  # "k3s" (a Deployment in the cluster) or "vms" (the edge hosts)


@dataclass(frozen=True)
class AppSettings:
    name: str
    enabled: bool
    hostname: str


@dataclass(frozen=True)
class AppsSettings:
    items: tuple[AppSettings, ...]
    tls_issuer: str  # production | staging: cert-manager's ClusterIssuer letsencrypt-<tls_issuer>
    storage_class: str  # the apps' volumes (ReadWriteOnce)
    admin_email: str  # the apps' first administrator

    def __iter__(self) -> Iterator[AppSettings]:
        return iter(self.items)

    def get(self, name: str) -> AppSettings:
        for a in self.items:
            if a.name == name:
                return a
        raise KeyError(name)


@dataclass(frozen=True)
class Secrets:
    """Secret config values, as Pulumi secrets. Generated passwords live in the components."""

    ssh_private_key: pulumi.Output[str]
    s3_access_key: pulumi.Output[str]
    s3_secret_key: pulumi.Output[str]
    optional: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)  # OPTIONAL_SECRET_KEYS set

    def by_key(self) -> dict[str, pulumi.Output[str]]:
        """Config key (SECRET_KEYS and the OPTIONAL_SECRET_KEYS that are set) -> value."""
        return {"sshPrivateKey": self.ssh_private_key, "s3AccessKey": self.s3_access_key,
                "s3SecretKey": self.s3_secret_key, **self.optional}


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
    mariadb: MariadbSettings
    apps: AppsSettings
    secrets: Secrets | None = field(default=None, compare=False)

    def enabled_apps(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.apps if a.enabled)
