"""The component contract: what the rest of the platform reads from a component, as plain data.

Every component's `contract(settings)` returns one `Contract`. The composition and the tools use
nothing else of a component: the firewall matrix is built from every contract's `ports` (with the
host `groups` they define), the baseline holds back every contract's `held_packages` from
unattended upgrades, monitoring scrapes every `scrape_jobs` entry, loads every component's `alerts`
and watches the certificates of its `tls_probes`, storage checks `buckets`
against the configured buckets, the router serves every `router_listeners` section, and
`scripts/verify` runs the `checks` module of each. Pure: no Pulumi imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from components.firewall import ServicePort
from components.plan import SecretValue
from components.settings import Host

# Scrape TLS: verified against the platform's internal CA (components/pki.py).
INTERNAL_CA = "internal"


@dataclass(frozen=True)
class ScrapeTarget:
    address: str  # host:port
    labels: Mapping[str, str]  # at least `host` and `role`


@dataclass(frozen=True)
class ScrapeJob:
    """One Prometheus scrape job. TLS: `tls_ca` names the CA that signs the targets' certificates
    (INTERNAL_CA); `tls_server_name` is the name to verify, None for the target's address (our
    host certificates carry the private address); `client_cert` when the endpoint requires one."""

    job: str
    targets: tuple[ScrapeTarget, ...]
    path: str = "/metrics"
    scheme: str = "http"
    tls_ca: str | None = None
    tls_server_name: str | None = None
    client_cert: bool = False

    def addresses(self) -> list[str]:
        return [t.address for t in self.targets]


# The target label that carries the VM's inventory role. Not `role`: redis_exporter's
# redis_instance_info has its own `role` (master/slave) that the Redis rules match on, and a target
# label of the same name would make Prometheus rename the exporter's to `exported_role`.
ROLE_LABEL = "vm_role"


def scrape_job(job: str, hosts: Sequence[Host], port: int, **kw: object) -> ScrapeJob:
    """A job with one target per host on `port`, labelled with the host's name and role."""
    targets = tuple(ScrapeTarget(f"{h.private_ip}:{port}", {"host": h.name, ROLE_LABEL: h.role}) for h in hosts)
    return ScrapeJob(job, targets, **kw)  # type: ignore[arg-type]


SEVERITIES = ("critical", "warning", "info", "none")  # "none": the Watchdog
# How often Alertmanager sends a group's news (components/monitoring/render/alertmanager.py): an
# alert that fires and resolves between two such flushes of a group that already exists is never
# sent, so a rule whose alert lasts only a fixed window must outlast its severity's interval.
GROUP_INTERVAL_S = {"critical": 30, "warning": 120}


@dataclass(frozen=True)
class Alert:
    """One alerting rule. Every alert carries the labels `severity` and `component`; `summary` and
    `description` are Prometheus templates and should name the host (`{{ $labels.host }}`). The
    runbook is the README's section for the alert (`runbook_anchor`)."""

    name: str
    expr: str
    for_: str  # Prometheus duration, "0s" for at once
    severity: str  # SEVERITIES
    summary: str
    description: str
    # The label that tells the alert's instances apart when each event raises a new one (the new
    # primary of a failover): Alertmanager groups each instance on its own, so a new one is sent
    # after group_wait instead of at the next flush of a group that still holds an earlier one.
    per: str | None = None

    def runbook_anchor(self) -> str:
        return f"alert-{self.name.lower()}"


STARTTLS_PROTOCOLS = ("postgres", "mysql")  # what files/tls-probe.sh speaks (openssl s_client -starttls)


@dataclass(frozen=True)
class TlsProbe:
    """A TLS endpoint whose certificate monitoring watches. `starttls`: None for TLS from the first
    byte (blackbox exporter), else the protocol whose own upgrade comes first (STARTTLS_PROTOCOLS:
    "postgres" for PostgreSQL and PgBouncer, "mysql" for MariaDB; probed with `openssl s_client
    -starttls <protocol>`). `client_cert`: the endpoint requires one."""

    service: str
    host: Host
    port: int
    starttls: str | None = None
    client_cert: bool = False

    def address(self) -> str:
        return f"{self.host.private_ip}:{self.port}"


@dataclass(frozen=True)
class BucketUse:
    bucket: str  # key of `s3.buckets` (nextcloud | backups | appBackups)
    prefix: str  # object key prefix the component writes below; "" for the whole bucket
    purpose: str
    # Days after which objects below the prefix expire (a lifecycle rule, components/storage_rules.py);
    # None: the component's own tool keeps its retention and no lifecycle rule may touch the prefix.
    expire_days: int | None = None


@dataclass(frozen=True)
class RouterListener:
    """A section the router appends to its haproxy.cfg, with the secrets its placeholders name."""

    section: str
    secrets: Mapping[str, SecretValue] = field(default_factory=dict)  # placeholder name -> value


@dataclass(frozen=True)
class Contract:
    name: str
    ports: tuple[ServicePort, ...] = ()
    # Host groups this component defines (e.g. "etcd"), usable in any component's ServicePorts.
    groups: Mapping[str, tuple[Host, ...]] = field(default_factory=dict)
    scrape_jobs: tuple[ScrapeJob, ...] = ()
    held_packages: tuple[str, ...] = ()  # package name prefixes unattended-upgrades must not touch
    buckets: tuple[BucketUse, ...] = ()
    router_listeners: tuple[RouterListener, ...] = ()
    checks: str | None = None  # module with the component's `scripts/verify` lines
    alerts: tuple[Alert, ...] = ()  # its alerting rules (monitoring writes one rule file per component)
    recording_rules: Mapping[str, str] = field(default_factory=dict)  # record name -> expression
    tls_probes: tuple[TlsProbe, ...] = ()  # its TLS endpoints (certificate expiry)


def all_ports(contracts: Sequence[Contract]) -> list[ServicePort]:
    return [p for c in contracts for p in c.ports]


def all_groups(contracts: Sequence[Contract]) -> dict[str, tuple[Host, ...]]:
    out: dict[str, tuple[Host, ...]] = {}
    for c in contracts:
        for name, hosts in c.groups.items():
            if name in out:
                raise ValueError(f"host group {name!r} is defined by two components")
            out[name] = hosts
    return out


def held_packages(contracts: Sequence[Contract]) -> tuple[str, ...]:
    out: list[str] = []
    for c in contracts:
        out += [p for p in c.held_packages if p not in out]
    return tuple(out)


def scrape_jobs(contracts: Sequence[Contract]) -> list[ScrapeJob]:
    return [j for c in contracts for j in c.scrape_jobs]


def tls_probes(contracts: Sequence[Contract]) -> list[TlsProbe]:
    return [p for c in contracts for p in c.tls_probes]
