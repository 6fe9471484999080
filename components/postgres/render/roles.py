"""Roles and databases: the manifest the databases step applies, and PgBouncer's lookup function."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from components.postgres.names import (
    BACKUP_USER,
    MONITORING_USER,
    PGBOUNCER_AUTH_USER,
    SECRET_BACKUP,
    SECRET_CIPHER,
    SECRET_MONITORING,
    SECRET_PATRONI_API,
    SECRET_PGBOUNCER_AUTH,
    SECRET_REPLICATION,
    SECRET_REWIND,
    SECRET_S3_ACCESS,
    SECRET_S3_SECRET,
    SECRET_SUPERUSER,
    app_secret,
)
from components.settings import Settings


@dataclass(frozen=True)
class Role:
    name: str
    secret: str
    kind: str  # app | monitoring | backup | pgbouncer_auth


def roles(settings: Settings) -> list[Role]:
    out = [Role(db, app_secret(db), "app") for db in settings.postgres.databases]
    out += [
        Role(MONITORING_USER, SECRET_MONITORING, "monitoring"),
        Role(BACKUP_USER, SECRET_BACKUP, "backup"),
        Role(PGBOUNCER_AUTH_USER, SECRET_PGBOUNCER_AUTH, "pgbouncer_auth"),
    ]
    return out


def render_roles(settings: Settings) -> str:
    """`name<TAB>secret<TAB>kind` per role; the databases step creates each and sets its password."""
    return "".join(f"{r.name}\t{r.secret}\t{r.kind}\n" for r in roles(settings))


def render_databases(databases: Sequence[str]) -> str:
    """`database<TAB>owner` per app database (one owner role per database, same name)."""
    return "".join(f"{db}\t{db}\n" for db in databases)


def render_app_db_sql() -> str:
    """Run in every app database: PgBouncer's lookup function, idempotent, reports what it created."""
    return f"""-- Rendered by the platform program. psql -v db=<database> -f this file.
SELECT NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'pgbouncer') AS need_schema \\gset
\\if :need_schema
CREATE SCHEMA pgbouncer;
\\echo platform-changed: schema pgbouncer in :db
\\endif
SELECT to_regprocedure('pgbouncer.get_auth(text)') IS NULL AS need_function \\gset
\\if :need_function
CREATE FUNCTION pgbouncer.get_auth(p_usename text)
  RETURNS TABLE (username text, password text)
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
AS $$ SELECT usename::text, passwd::text FROM pg_catalog.pg_shadow
      WHERE usename = p_usename AND NOT usesuper $$;
REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;
\\echo platform-changed: function pgbouncer.get_auth in :db
\\endif
GRANT USAGE ON SCHEMA pgbouncer TO {PGBOUNCER_AUTH_USER};
GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO {PGBOUNCER_AUTH_USER};
"""


def secret_names(settings: Settings) -> list[str]:
    """Every placeholder any rendered file of this component may contain."""
    return [
        SECRET_SUPERUSER, SECRET_REPLICATION, SECRET_REWIND, SECRET_MONITORING, SECRET_BACKUP,
        SECRET_PGBOUNCER_AUTH, SECRET_PATRONI_API, SECRET_CIPHER, SECRET_S3_ACCESS, SECRET_S3_SECRET,
    ] + [app_secret(db) for db in settings.postgres.databases]
