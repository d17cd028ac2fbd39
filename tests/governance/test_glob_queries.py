"""Velocity and cumulative over a glob are answered by the database in linear time, on
SQLite and PostgreSQL alike (issue 9, point 6). Before: on SQLite the glob became a regular
expression run by Django's REGEXP function (Python's backtracking `re`, inside the web
process); a capability with 5-6 `*` froze the whole process for 54 s."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.models import DecisionRequest
from governance.policy.state import MemoryState, Recorded
from governance.services import agent_create
from governance.state import DatabaseState, action_filter

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def bot():
    return agent_create(name="glob-bot")[0]


def record(agent, action, amount=1):
    return DecisionRequest.objects.create(
        agent=agent, action=action, resource="", params={"amount": amount}, context={}, digest="x",
        decision="allow", status="allowed", created_at=NOW - timedelta(seconds=30),
    )


def both_ways(agent, kind, **kw):
    """The batched SQL answer and the ORM reference, which must agree."""
    return getattr(DatabaseState(agent), kind)(**kw), getattr(DatabaseState(agent), f"_orm_{kind}")(**kw)


def test_an_adversarial_glob_is_answered_without_regular_expressions(bot):
    # 200 characters of 'a' against `*a*a*a*a*a*a*b`: ~200**6/720 backtracking steps for a
    # regular expression, a few thousand here. Completing at all is the assertion.
    for _ in range(3):
        record(bot, "a" * 199)
    record(bot, "a" * 150 + "b")
    with CaptureQueriesContext(connection) as queries:
        assert both_ways(bot, "count", action="*a*a*a*a*a*a*b", window=600, now=NOW) == (1, 1)
        assert both_ways(bot, "count", action="*a*a*a*a*a*a*", window=600, now=NOW) == (4, 4)
        assert both_ways(bot, "total", action="*a*?a*a*a*a*a*", window=600, now=NOW, param="amount") == (4.0, 4.0)
    sql = " ".join(q["sql"] for q in queries.captured_queries).upper()
    assert "REGEXP" not in sql and " ~ " not in sql
    assert ("GLOB" if connection.vendor == "sqlite" else "LIKE") in sql


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("crm_*", {"crm_read"}),  # `_` is a literal, not LIKE's any-character
        ("crm%*", {"crm%read"}),  # so is `%`
        ("crm\\*", {"crm\\read"}),  # and the backslash
        ("crm.*", {"crm.read"}),  # case sensitive on SQLite too (its LIKE is not)
        ("crm?read", {"crm_read", "crm%read", "crmXread", "crm.read", "crm\\read"}),
        ("crm[[]*", {"crm[x"}),  # a set holding `[`
        ("crm[*", {"crm[x"}),  # an unclosed bracket is a literal
        ("crm[!_%]read", {"crmXread", "crm.read", "crm\\read"}),
    ],
)
def test_glob_literals_are_literal_in_sql(bot, pattern, matches):
    actions = ["crm_read", "crm%read", "crmXread", "crm.read", "CRM.read", "crm\\read", "crm[x"]
    for action in actions:
        record(bot, action)
    memory = MemoryState("glob-bot", [Recorded("glob-bot", a, "", {}, {}, NOW - timedelta(seconds=30)) for a in actions])
    found = set(DecisionRequest.objects.filter(action_filter(pattern)).values_list("action", flat=True))
    assert found == matches
    expected = memory.count(action=pattern, window=600, now=NOW)
    assert expected == len(matches)
    assert both_ways(bot, "count", action=pattern, window=600, now=NOW) == (expected, expected)
