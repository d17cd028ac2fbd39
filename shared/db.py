"""prepared_cursor(): a cursor whose statements PostgreSQL plans once per connection.

Django's PostgreSQL backend binds parameters on the client (psycopg's ClientCursor) and never
prepares, so every statement is parsed and planned again on each execution. For the few
statements every decision runs, planning cost more of the database's CPU than executing:
decide's one-statement state question took 1.47 ms of backend CPU unprepared and 0.41 ms
prepared (bench/README.md, "prepared statements").

This cursor binds on the server (Django's own ServerBindingCursor) on the connection Django
already holds, so its queries go through Django's wrappers (execute_wrapper, query logging,
the test tools) like any other. psycopg prepares a statement once it has run
`prepare_threshold` times on that connection (settings: AIRLOCK_DB_PREPARE_THRESHOLD; 0 turns
preparing off, e.g. behind a transaction-pooling proxy that cannot keep them). Elsewhere
(SQLite, or preparing off) it is Django's ordinary cursor.

Server binding sends each parameter with its type, or as `unknown` for text and NULL: a
statement written for it casts what PostgreSQL cannot infer (a parameter in a SELECT list,
e.g. `INSERT ... SELECT %s::uuid`).
"""

from functools import cache

from django.db import connection


def prepared_cursor():
    """A Django cursor (use it as a context manager) binding and preparing on the server."""
    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("prepare_threshold"):
        return connection.cursor()
    from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, register_tzloader
    from psycopg.pq import Format

    # As connection.cursor() does (BaseDatabaseWrapper._cursor, create_cursor), with the
    # server-binding class.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = _cursor_class()(connection.connection)
        tzloader = cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        if connection.timezone != tzloader.timezone:
            register_tzloader(connection.timezone, cursor)
        return connection._prepare_cursor(cursor)


@cache
def _cursor_class():
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        def _send_query_prepared(self, name, pgq, *, binary=None):
            # psycopg records the query it sent only when unprepared; Django's query log
            # (CaptureQueriesContext, DEBUG) reads it back for every statement.
            self._query = pgq
            super()._send_query_prepared(name, pgq, binary=binary)

    return PreparingCursor
