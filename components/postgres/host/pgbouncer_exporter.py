#!/usr/bin/python3
"""Launcher of Debian's prometheus-pgbouncer-exporter (1.7, Christopher Baines), installed by the
pgbouncer-exporter step as /usr/local/lib/platform-pgbouncer-exporter/pgbouncer-exporter and run by
the package's systemd unit (ExecStart replaced by a drop-in). Options, config file and the other
metrics are the package's; this file only adapts it to PgBouncer >= 1.8 (Debian 12 ships 1.18):

- The packaged StatsCollector reads `total_requests` from SHOW STATS, a column PgBouncer 1.8
  replaced by `total_query_count` / `total_xact_count`: unpatched, the exporter dies at start with
  KeyError: 'total_requests'. The stats below are the columns 1.8+ has.
- The packaged exporter opens one connection at start and never again: if PgBouncer drops it, every
  later scrape fails. Here a broken connection is reopened and the query retried once.
- SHOW POOLS also yields the server side of each pool and the longest client wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg2
from prometheus_pgbouncer_exporter import cli, collectors

collectors.StatsCollector.metrics = {
    "total_query_count": ("queries_total", "Total number of SQL queries pooled by pgbouncer"),
    "total_xact_count": ("transactions_total", "Total number of SQL transactions pooled by pgbouncer"),
    "total_received": ("received_bytes_total", "Total volume in bytes of network traffic received by pgbouncer"),
    "total_sent": ("sent_bytes_total", "Total volume in bytes of network traffic sent by pgbouncer"),
    "total_query_time": ("query_microseconds_total", "Total microseconds spent by pgbouncer actively querying"),
    "total_xact_time": ("transaction_microseconds_total", "Total microseconds spent by pgbouncer in transactions"),
    "total_wait_time": ("wait_microseconds_total", "Total microseconds clients waited for a server connection"),
}
collectors.PoolsCollector.metrics = {
    **collectors.PoolsCollector.metrics,
    "sv_active": ("active_servers", "Server connections linked to a client"),
    "sv_idle": ("idle_servers", "Server connections unused and immediately usable"),
    "maxwait": ("max_wait_seconds", "How long the oldest waiting client has waited, in seconds"),
}


class Connection:
    """What the collectors use of a psycopg2 connection (cursor, close), reopened when broken."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._conn: Any = None

    def cursor(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn.cursor()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None


def _retried(fetch: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    def wrapper(connection: Any, key: str) -> Any:
        try:
            return fetch(connection, key)
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            connection.close()
            return fetch(connection, key)

    return wrapper


collectors.get_data_by_named_column = _retried(collectors.get_data_by_named_column)
collectors.get_data_by_named_row = _retried(collectors.get_data_by_named_row)
_open = cli.get_connection
cli.get_connection = lambda user, port, host: Connection(lambda: _open(user, port, host))

if __name__ == "__main__":
    cli.main()
