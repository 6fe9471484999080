"""Odoo (the official image) on K3s (pure): odoo.conf rendered here (a Secret: it holds the
database password and the master password), PostgreSQL through `postgres-rw` with TLS, the
filestore on a volume, `/websocket` routed to the gevent port.

Odoo's bus LISTENs on channel `imbus` and NOTIFYs through a connection to the `postgres` database
(odoo/addons/bus/models/bus.py): both stay on one server connection only in PgBouncer's session
mode, so `postgres` and Odoo's database are session-pooled (components/postgres/render/pgbouncer.py).
"""

from __future__ import annotations

from components.apps import names as n
from components.apps.render import common as c
from components.apps.render import kube as k
from components.apps.render.sizing import size
from components.plan import Password, placeholder
from components.postgres.render.pgbouncer import BUS_DATABASE  # noqa: F401 (where Odoo's bus runs)
from components.settings import Settings

APP = "odoo"
HTTP_PORT = 8069
GEVENT_PORT = 8072  # the websocket (bus) worker
UID, GID = 100, 101  # the image's `odoo` user (odoo/odoo#183106)
CONF = "/etc/odoo/odoo.conf"
DATA_DIR = "/var/lib/odoo"
SECRET_DB = "odoo_db_password"
SECRET_ADMIN = "odoo_admin_passwd"


def workers(settings: Settings) -> int:
    """HTTP workers: Odoo's rule of thumb is 2 x CPUs + 1; the container's request is the budget."""
    return 2 if settings.preset == "mvp" else 4


def options(settings: Settings) -> dict[str, str]:
    pg = n.POSTGRES_RW
    return {
        "db_host": pg.host(),
        "db_port": str(pg.port),
        "db_user": APP,
        "db_password": placeholder(SECRET_DB),
        "db_name": APP,
        # TLS to PgBouncer, verified against the internal CA (PGSSLROOTCERT in the container).
        "db_sslmode": "verify-ca",
        "dbfilter": f"^{APP}$",
        "list_db": "False",
        "proxy_mode": "True",
        "workers": str(workers(settings)),
        "max_cron_threads": "1",
        "gevent_port": str(GEVENT_PORT),
        "http_port": str(HTTP_PORT),
        "data_dir": DATA_DIR,
        "admin_passwd": placeholder(SECRET_ADMIN),
        "limit_time_real": "120",
        "limit_memory_soft": str(1536 * 1024 * 1024 if settings.preset != "mvp" else 640 * 1024 * 1024),
        "limit_memory_hard": str(2560 * 1024 * 1024 if settings.preset != "mvp" else 1024 * 1024 * 1024),
        "without_demo": "all",
    }


def render_conf(settings: Settings) -> str:
    body = "".join(f"{key} = {value}\n" for key, value in options(settings).items())
    return "; Rendered by the platform program (components/apps/render/odoo.py); do not edit.\n[options]\n" + body


def secret(settings: Settings) -> k.SecretSpec:
    return k.SecretSpec(APP, n.app_secret(APP), {
        "odoo.conf": k.Template(render_conf(settings), {
            SECRET_DB: k.OutputValue("postgresApps", (APP, "password")),
            SECRET_ADMIN: Password(n.admin_password(APP)),
        }),
        "postgres-password": k.OutputValue("postgresApps", (APP, "password")),
        "admin-password": Password(n.admin_password(APP)),
    })


def _pod(settings: Settings, container: k.Obj, restart: str | None = None) -> k.Obj:
    ca_vol, ca_mount = k.ca_volume()
    container["volumeMounts"] = [{"name": "conf", "mountPath": CONF, "subPath": "odoo.conf", "readOnly": True},
                                 {"name": "data", "mountPath": DATA_DIR}, ca_mount]
    container.setdefault("env", []).append(k.env_value("PGSSLROOTCERT", n.CA_FILE))
    pod: k.Obj = {"automountServiceAccountToken": False, "enableServiceLinks": False,
                  "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": GID, "fsGroup": GID,
                                      "seccompProfile": {"type": "RuntimeDefault"}},
                  "containers": [container],
                  "volumes": [{"name": "conf", "secret": {"secretName": n.app_secret(APP)}},
                              {"name": "data", "persistentVolumeClaim": {"claimName": f"{APP}-data"}}, ca_vol]}
    if restart:
        pod["restartPolicy"] = restart
    return pod


ENV_ADMIN_PASSWORD = "PLATFORM_ADMIN_PASSWORD"


def init_script() -> str:
    """The init Job: install `base` once (an empty database) and give its `admin` user the
    generated password (never the install's `admin`/`admin`); an initialized database is left alone."""
    check = "psql -tAc \"SELECT 1 FROM information_schema.tables WHERE table_name = 'ir_module_module'\""
    shell = (f"odoo shell --config={CONF} --database={APP} --no-http <<'EOF'\n"
             "import os\n"
             f"env.ref('base.user_admin').write({{'password': os.environ['{ENV_ADMIN_PASSWORD}']}})\n"
             "env.cr.commit()\n"
             "EOF")
    return "\n".join([
        "set -eu",
        f"if [ \"$({check})\" = 1 ]; then echo 'odoo: database already initialized'; exit 0; fi",
        f"odoo --config={CONF} --database={APP} --init=base --stop-after-init --no-http",
        shell,
    ])


def objects(settings: Settings) -> list[k.Obj]:
    lb = k.app_labels(APP, "web")
    sz = size(settings.preset, APP)
    sec = secret(settings)
    health = k.http_probe("/web/health", HTTP_PORT)
    main: k.Obj = {
        "name": APP, "image": n.IMAGES[APP].ref(), "args": ["odoo", f"--config={CONF}"],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
                  {"name": "websocket", "containerPort": GEVENT_PORT, "protocol": "TCP"}],
        "startupProbe": {**health, "failureThreshold": 30}, "readinessProbe": health,
        "livenessProbe": {**health, "failureThreshold": 6},
        "resources": sz.resources(),
        "securityContext": {**k.restricted_container(), "readOnlyRootFilesystem": True},
    }
    pg = n.POSTGRES_RW
    init: k.Obj = {
        "name": "init", "image": n.IMAGES[APP].ref(), "command": ["/bin/sh", "-c", init_script()],
        "env": [k.env_value("PGHOST", pg.host()), k.env_value("PGPORT", str(pg.port)), k.env_value("PGDATABASE", APP),
                k.env_value("PGUSER", APP), k.env_value("PGSSLMODE", "verify-ca"),
                k.env_secret("PGPASSWORD", n.app_secret(APP), "postgres-password"),
                k.env_secret(ENV_ADMIN_PASSWORD, n.app_secret(APP), "admin-password")],
        "resources": sz.resources(),
        "securityContext": {**k.restricted_container(), "readOnlyRootFilesystem": True},
    }
    pod = _pod(settings, main)
    # Odoo writes sessions and compiled assets below data_dir and nothing else on the root file system.
    pod["volumes"].append({"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}})
    main["volumeMounts"].append({"name": "tmp", "mountPath": "/tmp"})
    out = [
        k.pvc(f"{APP}-data", APP, "20Gi", settings.apps.storage_class, lb),
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": k.meta(f"{APP}-init", APP, k.app_labels(APP, "init")),
         "spec": {"backoffLimit": 3, "activeDeadlineSeconds": 3600,
                  "template": {"metadata": {"labels": k.app_labels(APP, "init")},
                               "spec": _pod(settings, init, restart="OnFailure")}}},
        k.deployment(APP, APP, lb, pod, replicas=sz.replicas, checksum_value=sec.checksum(), recreate=True),
        k.service(APP, APP, lb, [("http", HTTP_PORT, HTTP_PORT), ("websocket", GEVENT_PORT, GEVENT_PORT)]),
        k.ingress(APP, APP, c.hostname(settings, APP), c.issuer(settings),
                  [("/websocket", APP, GEVENT_PORT), ("/", APP, HTTP_PORT)]),
        *c.network_policies(settings, APP, [HTTP_PORT, GEVENT_PORT], [n.POSTGRES_RW]),
    ]
    if sz.replicas > 1:
        out.append(k.pdb(APP, APP, lb))
    return out
