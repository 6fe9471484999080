"""MariaDB's renderers (pure): server and arbitrator configuration, the health check, the exporter,
users, backups and the router's listener."""

from components.mariadb.render.backup import render_backup_env, render_backup_units, render_s3cfg
from components.mariadb.render.router import router_section
from components.mariadb.render.server import render_garb_defaults, render_garb_dropin, render_server_cnf
from components.mariadb.render.services import (
    render_check_defaults,
    render_check_units,
    render_exporter_cnf,
    render_exporter_defaults,
    render_garb_watch_defaults,
    render_garb_watch_units,
    render_recover_defaults,
    render_recover_units,
    render_users_sql,
)

__all__ = [
    "render_backup_env", "render_backup_units", "render_check_defaults", "render_check_units", "render_s3cfg",
    "render_exporter_cnf", "render_exporter_defaults", "render_garb_defaults", "render_garb_dropin",
    "render_garb_watch_defaults", "render_garb_watch_units",
    "render_recover_defaults", "render_recover_units", "render_server_cnf", "render_users_sql", "router_section",
]
