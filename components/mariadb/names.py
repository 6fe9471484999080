"""Names the MariaDB component shares between its renderers, plan, contract, checks and drills.
Pure; each constant has its one definition here.

Topology (README "MariaDB"): MariaDB 10.11 on every database VM. With one VM it runs alone; with
two or more it is a Galera cluster, and with an even number of them the Galera arbitrator (garbd)
runs on the etcd witness, so that the membership is odd like etcd's. The router sends every client
to one node at a time (the first healthy one, then it stays there).
"""

from __future__ import annotations

from components.plan import SECRET_S3_ACCESS, SECRET_S3_SECRET  # noqa: F401 (the shared S3 pair, re-exported)
from components.router import render as router_render
from components.settings import Host, Settings

MARIADB_PORT = 3306
GALERA_PORT = 4567  # group communication (the arbitrator too)
IST_PORT = 4568  # incremental state transfer
SST_PORT = 4444  # full state transfer (mariadb-backup over socat, TLS)
CHECK_PORT = 9200  # the router's health check (platform-mariadb-check.socket, HTTP)
EXPORTER_PORT = 9104  # prometheus-mysqld-exporter
ROUTER_PORT = 3306  # the router's `mariadb-rw` listener

DATABASE = "mautic"  # the one database, for Mautic (DESIGN.md: Mautic supports only MySQL/MariaDB)
APP_USER = "mautic"
SECRET_APP = "mariadb_mautic"  # the Mautic user's password
SECRET_EXPORTER = "mariadb_exporter"  # the exporter's password (its DSN file)
PASSWORD_APP = "mariadb-mautic"  # RandomPassword names
PASSWORD_EXPORTER = "mariadb-exporter"
EXPORTER_USER = "platform_exporter"
CHECK_USER = "platform-mariadb-check"  # OS and MariaDB user of the health check (unix_socket)
SECRET_TLS_KEY = "mariadb_tls_key"

CONF_FILE = "/etc/mysql/mariadb.conf.d/90-platform.cnf"  # after Debian's 50-server.cnf, 60-galera.cnf
TLS_DIR = "/etc/mysql/tls"
GARB_TLS_DIR = "/etc/platform-garb/tls"
SOCKET = "/run/mysqld/mysqld.sock"
GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"


def data_hosts(settings: Settings) -> tuple[Host, ...]:
    """Hosts that run MariaDB: every database VM."""
    return settings.hosts["postgres"] if settings.mariadb.enabled else ()


def galera(settings: Settings) -> bool:
    return settings.mariadb.enabled and len(settings.hosts["postgres"]) > 1


def arbitrator_host(settings: Settings) -> Host | None:
    """The Galera arbitrator's host (the etcd witness), None without one."""
    a = settings.mariadb.arbitrator
    return settings.hosts.by_name(a) if a and galera(settings) else None


def members(settings: Settings) -> tuple[Host, ...]:
    """Every Galera member: the data nodes and the arbitrator."""
    arb = arbitrator_host(settings)
    return data_hosts(settings) + ((arb,) if arb else ())


def bootstrap_host(settings: Settings) -> Host:
    """The node that creates the cluster when none exists yet (first apply)."""
    return data_hosts(settings)[0]


def router_endpoint(settings: Settings) -> str:
    return router_render.endpoint(settings, ROUTER_PORT)


def backup_prefix(settings: Settings) -> str:
    return f"mariadb/{settings.mariadb.cluster_name}/"
