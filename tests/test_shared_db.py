"""shared/db.py: the prepared cursor's query conversion caches every statement's parsed form,
even past psycopg's own limits (50 parameters, 4 KB), and converts exactly as psycopg does."""

import pytest
from django.db import connection

from shared.db import prepared_cursor

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def wide_statement(n: int = 60) -> tuple[str, list]:
    columns = ", ".join(f"%s::int AS c{i}" for i in range(n - 1))
    return f"SELECT {columns}, %s::text AS label", [*range(n - 1), "x" * 5]


def test_a_wide_statement_is_parsed_once_and_converted_as_psycopg_does(postgres):
    from psycopg import _queries
    from psycopg.adapt import Transformer

    sql, params = wide_statement()
    assert len(params) > _queries.MAX_CACHED_STATEMENT_PARAMS  # psycopg itself would parse it every time
    with prepared_cursor() as cursor:
        query_cls = cursor.cursor._query_cls
        cursor.execute(sql, params)
        assert list(cursor.fetchone()) == params
    parsed = query_cls.parsed
    parsed.cache_clear()
    tx = Transformer(connection.connection)
    ours = [query_cls(tx) for _ in range(3)]
    for q in ours:
        q.convert(sql, params)
    theirs = _queries.PostgresQuery(tx)
    theirs.convert(sql, params)
    # psycopg's own conversion parses every time; ours parsed it once for three conversions.
    assert parsed.cache_info().hits == 2 and parsed.cache_info().misses == 1
    for q in ours:
        assert (q.query, q.params, q.types, q.formats) == (theirs.query, theirs.params, theirs.types, theirs.formats)
