"""Pure renderers of the PostgreSQL HA cluster's files, one module per rendered service.
No Pulumi imports. Secrets never appear in rendered text: files carry `{{secret:NAME}}`
placeholders that step_lib.sh (`put`/`bundled`) substitutes on the host from the step's secrets.
The names (ports, roles, secrets, paths) are defined once in `components/postgres/names.py` and
re-exported here with every renderer, so `render.X` reaches all of them.
"""

from components.postgres.names import *  # noqa: F403 (the names, re-exported)
from components.postgres.render.etcd import (
    etcd_endpoints,
    etcd_step_params,
    render_etcd,
    render_etcd_join_dropin,
    render_etcd_leader_units,
)
from components.postgres.render.exporters import (
    render_exporter_defaults,
    render_pgbouncer_exporter,
    render_pgbouncer_exporter_pgpass,
    render_pgbouncer_exporter_unit,
)
from components.postgres.render.patroni import (
    Sizing,
    dcs_config,
    etcd_hosts,
    patroni_config,
    pg_hba,
    render_dcs,
    render_patroni,
    render_patroni_dropin,
    sizing,
)
from components.postgres.render.pgbackrest import (
    render_backup_cron,
    render_backup_script,
    render_pgbackrest,
    s3_host_port,
)
from components.postgres.render.pgbouncer import pool_size, render_pgbouncer, render_userlist
from components.postgres.render.roles import (
    Role,
    render_app_db_sql,
    render_databases,
    render_roles,
    roles,
    secret_names,
)
