"""Names the Redis component shares between its renderers, plan, contract, checks and drills:
ports, secret names, the host layout, and the topology. Pure; each constant has its one definition here.

Topology (DESIGN.md): every Redis VM runs a Sentinel; the first two Redis VMs (or the only one)
run redis-server ("data nodes"), further VMs run only a Sentinel. The first Redis VM is the
*initial* master: the one that starts as master when no Sentinel can be asked (first boot).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.plan import SECRET_S3_ACCESS, SECRET_S3_SECRET  # noqa: F401 (the shared S3 pair, re-exported)
from components.router import render as router_render
from components.settings import Host, Settings

REDIS_PORT = 6379
SENTINEL_PORT = 26379
EXPORTER_PORT = 9121  # redis_exporter for the local redis-server
SENTINEL_EXPORTER_PORT = 9122  # redis_exporter in Sentinel mode for the local Sentinel
ROUTER_PORT = 6379  # the router's Redis listener (HAProxy, `listen redis`)

# Secret names (files refer to them as {{secret:NAME}}).
SECRET_ADMIN = "redis_password"  # requirepass (the `default` user) and masterauth
SECRET_SENTINEL = "redis_sentinel"  # ACL user `sentinel`
SECRET_EXPORTER = "redis_exporter"  # ACL user `exporter`
SECRET_HEALTHCHECK = "redis_healthcheck"  # ACL user `healthcheck` (the router's tcp-check)
SECRET_BACKUP = "redis_backup"  # ACL user `backup`

TLS_DIR = "/etc/redis/tls"


def app_secret(app: str) -> str:
    return f"redis_app_{app.replace('-', '_')}"


def key_prefix(app: str) -> str:
    """The key (and channel) prefix an app's ACL user may touch; apps must be configured with it."""
    return f"{app}:"


@dataclass(frozen=True)
class Layout:
    """Where things live on a host. Production uses the defaults (Debian's packaging); the
    loopback tests use other ports and directories with the same renderers."""

    redis_port: int = REDIS_PORT
    sentinel_port: int = SENTINEL_PORT
    conf_dir: str = "/etc/redis"
    data_dir: str = "/var/lib/redis"
    log_dir: str = "/var/log/redis"
    redis_pidfile: str = "/run/redis/redis-server.pid"
    sentinel_pidfile: str = "/run/sentinel/redis-sentinel.pid"
    supervised: bool = True  # systemd notify (Type=notify units)
    tls_dir: str = TLS_DIR  # ca.crt, redis.crt, redis.key (redis.tls)


PROD = Layout()


def data_hosts(settings: Settings) -> tuple[Host, ...]:
    """Hosts that run redis-server: the first two Redis VMs when there are three or more."""
    hosts = settings.hosts["redis"]
    return hosts[:2] if len(hosts) >= 3 else hosts


def sentinel_hosts(settings: Settings) -> tuple[Host, ...]:
    return settings.hosts["redis"]


def initial_master(settings: Settings) -> Host:
    return settings.hosts["redis"][0]


def sentinel_addresses(settings: Settings, layout: Layout = PROD) -> list[str]:
    return [f"{h.private_ip}:{layout.sentinel_port}" for h in sentinel_hosts(settings)]


def router_endpoint(settings: Settings) -> str:
    """host:port of the router's Redis listener (first edge VM, or the router Service in K3s)."""
    return router_render.endpoint(settings, ROUTER_PORT)


def cli_tls_args(settings: Settings, layout: Layout = PROD) -> str:
    """redis-cli options the host scripts add to reach Redis/Sentinel."""
    return f"--tls --cacert {layout.tls_dir}/ca.crt" if settings.redis.tls else ""


def backup_prefix(settings: Settings) -> str:
    return f"redis/{settings.redis.master_name}/"
