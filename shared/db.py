"""prepared_cursor(): a cursor whose statements PostgreSQL plans once per connection.

Django's PostgreSQL backend binds parameters on the client (psycopg's ClientCursor) and never
prepares, so every statement is parsed and planned again on each execution. For the few
statements every decision runs, planning cost more of the database's CPU than executing:
decide's one-statement state question took 1.47 ms of backend CPU unprepared and 0.41 ms
prepared (docs/performance.md, "Prepared statements and the plain decide path").

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

from django.db import DEFAULT_DB_ALIAS, connections


def prepared_cursor():
    """A Django cursor (use it as a context manager) binding and preparing on the server."""
    db = connections[DEFAULT_DB_ALIAS]  # the thread's wrapper, looked up once (not the proxy per attribute)
    if db.vendor != "postgresql" or not db.settings_dict["OPTIONS"].get("prepare_threshold"):
        return db.cursor()
    # As db.cursor() does (BaseDatabaseWrapper._cursor, create_cursor), with the server-binding class.
    db.close_if_health_check_failed()
    db.ensure_connection()
    with db.wrap_database_errors:
        cursor_class, tz_check = _cursor_class()
        cursor = cursor_class(db.connection)
        tz_check(db, cursor)
        return db._prepare_cursor(cursor)


@cache
def _cursor_class():
    from django.db.backends.postgresql.base import (
        TIMESTAMPTZ_OID,
        ServerBindingCursor,
        register_tzloader,
    )
    from psycopg.pq import Format

    class PreparingCursor(ServerBindingCursor):
        _query_cls = _fixed_statement_query()

        def _send_query_prepared(self, name, pgq, *, binary=None):
            # psycopg records the query it sent only when unprepared; Django's query log
            # (CaptureQueriesContext, DEBUG) reads it back for every statement.
            self._query = pgq
            super()._send_query_prepared(name, pgq, binary=binary)

    def tz_check(db, cursor):
        # Register the cursor's time zone only if the connection's differs (as create_cursor).
        if db.timezone != cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT).timezone:
            register_tzloader(db.timezone, cursor)

    return PreparingCursor, tz_check


def _fixed_statement_query():
    """psycopg's query conversion for this cursor, caching every statement's parsed form.

    psycopg parses a statement with more than 50 parameters (or longer than 4 KB) again on
    every execution: its cache guards against ORM statements of ever-varying shape. This
    cursor runs a fixed few statements, and the largest are the ones decide runs most (the
    audit append with its riders, the state question: 50-60 parameters), whose parsing cost
    ~2-5 % of decide's CPU. Relies on psycopg's PostgresQuery internals (version pinned in
    pyproject.toml); tests/test_shared_db.py compares it with psycopg's own conversion."""
    from functools import lru_cache

    from psycopg._queries import PostgresQuery, _query2pg_nocache

    @lru_cache(maxsize=256)
    def parsed(query: str, encoding: str):
        return _query2pg_nocache(query.encode(encoding), encoding)

    class FixedStatementQuery(PostgresQuery):
        def convert(self, query, vars):
            if vars is None or type(query) is not str:
                return super().convert(query, vars)
            self.query, self._want_formats, self._order, self._parts = parsed(query, self._tx.encoding)
            self.dump(vars)

    FixedStatementQuery.parsed = parsed
    return FixedStatementQuery
