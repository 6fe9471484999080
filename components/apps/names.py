"""Names the apps share between their renderers, the component, the checks and the contract
tests: namespaces, the router Services, the pinned images, ports. Pure; each constant has its one
definition here.

Apps reach the data tier only through the router Services in the `platform` namespace
(DESIGN.md 1): `postgres-rw` (PgBouncer on the Patroni primary), `postgres-ro` (the replicas),
`redis-master` (the current Redis master, for Nextcloud, which cannot speak Sentinel) and
`mariadb-rw` (one writable Galera node). Mautic asks the Sentinels for its Redis master itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.mariadb.names import ROUTER_PORT as MARIADB_ROUTER_PORT
from components.redis.names import ROUTER_PORT as REDIS_ROUTER_PORT
from components.router.render import PRIMARY_PORT, REPLICA_PORT, STATS_PORT
from components.settings import Settings

PLATFORM_NAMESPACE = "platform"
ROUTER = "platform-router"
ROUTER_REPLICAS = 2
CLUSTER_DOMAIN = "cluster.local"
CA_CONFIGMAP = "platform-ca"  # the internal CA's certificate (public): verifies PgBouncer and MariaDB
CA_FILE = "/etc/platform-ca/ca.crt"  # where every app container mounts it
CA_KEY = "ca.crt"
TRAEFIK_NAMESPACE = "kube-system"
TRAEFIK_LABELS = {"app.kubernetes.io/name": "traefik"}  # K3s's bundled Traefik chart's pod labels
DNS_LABELS = {"k8s-app": "kube-dns"}  # K3s's CoreDNS
LABEL_APP = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_ROUTER_CLIENT = "platform/router-client"  # on app namespaces: may reach the router
CHECKSUM_ANNOTATION = "platform/config-checksum"


@dataclass(frozen=True)
class RouterService:
    """A ClusterIP Service of the router: `port` is what apps dial, `target` the HAProxy listener."""

    name: str
    port: int
    target: int
    purpose: str

    def host(self) -> str:
        return f"{self.name}.{PLATFORM_NAMESPACE}.svc.{CLUSTER_DOMAIN}"


POSTGRES_RW = RouterService("postgres-rw", 5432, PRIMARY_PORT, "PgBouncer on the Patroni primary")
POSTGRES_RO = RouterService("postgres-ro", 5432, REPLICA_PORT, "PgBouncer on the streaming replicas")
REDIS_MASTER = RouterService("redis-master", 6379, REDIS_ROUTER_PORT, "the current Redis master")
MARIADB_RW = RouterService("mariadb-rw", 3306, MARIADB_ROUTER_PORT, "one writable MariaDB node")
ALL_ROUTER_SERVICES = (POSTGRES_RW, POSTGRES_RO, REDIS_MASTER, MARIADB_RW)
ROUTER_STATS_PORT = STATS_PORT


def router_services(settings: Settings) -> tuple[RouterService, ...]:
    """The router's Services: `mariadb-rw` only where MariaDB runs (its listener exists only then)."""
    return tuple(s for s in ALL_ROUTER_SERVICES if s is not MARIADB_RW or settings.mariadb.enabled)


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str

    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


# The pinned images, in one place (README "Apps": how to move a version).
IMAGES = {
    "router": Image("docker.io/library/haproxy", "2.6.12"),
    "nextcloud": Image("docker.io/library/nextcloud", "34.0.2-apache"),
    "odoo": Image("docker.io/library/odoo", "19.0-20260723"),
    "keycloak": Image("quay.io/keycloak/keycloak", "26.7.2"),
    "mautic": Image("docker.io/mautic/mautic", "5.2.8-apache"),
}


def tls_secret(app: str) -> str:
    """The Secret cert-manager writes the app's certificate to."""
    return f"{app}-tls"


def app_secret(app: str) -> str:
    """The Secret with the app's credentials (data tier, S3, its admin)."""
    return f"{app}-credentials"


def admin_password(app: str) -> str:
    """RandomPassword name of the app's first administrator (or Odoo's master password)."""
    return f"app-{app}-admin"


# Each app's health endpoint as the public sees it through Traefik (Keycloak's health is on the
# management port, which is not routed: its master realm's page answers when it serves requests).
HEALTH_PATHS = {"nextcloud": "/status.php", "odoo": "/web/health", "keycloak": "/realms/master", "mautic": "/s/login"}
