"""Pure renderers of the Redis/Sentinel component's files, one module per rendered service:
redis.conf and the start-up guard (server), sentinel.conf, the exporters, the backups and the
router's listener. No Pulumi imports. Secrets appear only as `{{secret:NAME}}` placeholders
(step_lib.sh substitutes them on the host). The names are defined once in
`components/redis/names.py` and re-exported here with every renderer.
"""

from components.redis.names import *  # noqa: F403 (the names, re-exported)
from components.redis.render.backup import render_backup_env, render_backup_units, render_s3cfg
from components.redis.render.exporters import (
    render_exporter_defaults,
    render_sentinel_exporter_defaults,
    render_sentinel_exporter_unit,
)
from components.redis.render.router import router_section
from components.redis.render.sentinel import render_sentinel_conf, render_sentinel_dropin
from components.redis.render.server import (
    APP_RULES,
    BACKUP_RULES,
    EXPORTER_RULES,
    HEALTHCHECK_RULES,
    SENTINEL_RULES,
    acl_lines,
    guard_wait_seconds,
    render_guard_env,
    render_redis_conf,
    render_redis_dropin,
    render_sysctl,
    render_thp_unit,
)
