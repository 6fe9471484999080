"""Keycloak (quay.io/keycloak/keycloak) on K3s (pure): PostgreSQL through `postgres-rw` (pgjdbc,
TLS verified against the internal CA), behind Traefik (X-Forwarded-*, plain HTTP inside the
cluster), health and metrics on the management port only, a generated bootstrap admin password.

Clustering: the `jdbc-ping` cache stack, Keycloak 26's default: the replicas find each other
through a table in their own database, which works on any Kubernetes without a headless Service
or DNS queries (the `kubernetes` stack, DNS_PING, is deprecated in 26). They talk on 7800 (JGroups)
and 57800 (failure detection), allowed between Keycloak pods only.
"""

from __future__ import annotations

from components.apps import names as n
from components.apps.render import common as c
from components.apps.render import kube as k
from components.apps.render.sizing import size
from components.plan import Password
from components.settings import Settings

APP = "keycloak"
HTTP_PORT = 8080
MANAGEMENT_PORT = 9000
JGROUPS_PORTS = (7800, 57800)
UID = 1000
ADMIN_USER = "admin"


def jdbc_url() -> str:
    pg = n.POSTGRES_RW
    return (f"jdbc:postgresql://{pg.host()}:{pg.port}/{APP}"
            f"?sslmode=verify-ca&sslrootcert={n.CA_FILE}")


def env_values(settings: Settings) -> dict[str, str]:
    return {
        "KC_DB": "postgres",
        "KC_DB_URL": jdbc_url(),
        "KC_DB_USERNAME": APP,
        "KC_HOSTNAME": c.url(settings, APP),
        "KC_PROXY_HEADERS": "xforwarded",
        "KC_PROXY_TRUSTED_ADDRESSES": ",".join(c.trusted_proxies(settings)),
        "KC_HTTP_ENABLED": "true",
        "KC_HTTP_PORT": str(HTTP_PORT),
        "KC_HEALTH_ENABLED": "true",
        "KC_METRICS_ENABLED": "true",
        "KC_HTTP_MANAGEMENT_PORT": str(MANAGEMENT_PORT),
        "KC_CACHE": "ispn",
        "KC_CACHE_STACK": "jdbc-ping",
        "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
        "JAVA_OPTS_KC_HEAP": "-XX:MaxRAMPercentage=70",
    }


def secret() -> k.SecretSpec:
    return k.SecretSpec(APP, n.app_secret(APP), {
        "postgres-password": k.OutputValue("postgresApps", (APP, "password")),
        "admin-password": Password(n.admin_password(APP)),
    })


def objects(settings: Settings) -> list[k.Obj]:
    lb = k.app_labels(APP, "server")
    sz = size(settings.preset, APP)
    sec = n.app_secret(APP)
    ca_vol, ca_mount = k.ca_volume()
    env = [k.env_value(name, value) for name, value in env_values(settings).items()]
    env += [k.env_secret("KC_DB_PASSWORD", sec, "postgres-password"),
            k.env_secret("KC_BOOTSTRAP_ADMIN_PASSWORD", sec, "admin-password")]
    container = {
        "name": APP, "image": n.IMAGES[APP].ref(), "args": ["start"], "env": env,
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
                  {"name": "management", "containerPort": MANAGEMENT_PORT, "protocol": "TCP"},
                  *({"name": f"jgroups-{p}", "containerPort": p, "protocol": "TCP"} for p in JGROUPS_PORTS)],
        # `start` (not --optimized) re-augments at boot: minutes on a small node.
        "startupProbe": k.http_probe("/health/started", MANAGEMENT_PORT, failures=60),
        "readinessProbe": k.http_probe("/health/ready", MANAGEMENT_PORT),
        "livenessProbe": k.http_probe("/health/live", MANAGEMENT_PORT, failures=6),
        "resources": sz.resources(),
        # Not read-only: `start` rebuilds into /opt/keycloak/lib/quarkus at boot (keycloak#37533).
        "securityContext": {**k.restricted_container(), "runAsNonRoot": True, "runAsUser": UID, "runAsGroup": 0},
        "volumeMounts": [ca_mount],
    }
    pod = {"automountServiceAccountToken": False, "enableServiceLinks": False, "containers": [container],
           "volumes": [ca_vol], "terminationGracePeriodSeconds": 60}
    if sz.replicas > 1:
        pod["affinity"] = k.spread(lb)
    out = [
        k.deployment(APP, APP, lb, pod, replicas=sz.replicas, checksum_value=secret().checksum()),
        # The management port is not in the Service the Ingress uses: health and metrics stay inside.
        k.service(APP, APP, lb, [("http", HTTP_PORT, HTTP_PORT)]),
        k.ingress(APP, APP, c.hostname(settings, APP), c.issuer(settings), [("/", APP, HTTP_PORT)]),
        *c.network_policies(settings, APP, [HTTP_PORT], [n.POSTGRES_RW]),
        k.peers_policy("cache-cluster", APP, lb, JGROUPS_PORTS),
    ]
    if sz.replicas > 1:
        out.append(k.pdb(APP, APP, lb))
    return out
