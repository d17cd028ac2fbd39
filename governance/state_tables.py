"""Bounded-cost state for decide (docs/performance.md): what velocity, cumulative and novelty
read, kept so that answering never reads an agent's history row by row.

- StateTally: per agent, exact action, bucket and level (1 h, 1 min and 1 s buckets), the
  number of live requests (param '') and, per top-level numeric param, the sum of what they
  contribute to a cumulative total (clamped to [0, 1e300], as positive_number() does): over
  all of them (param `amount`) and per currency group (`amount@USD`, `amount@` without a
  currency, `amount@?` for an unreadable one; migration 0010, docs/inbox.md).
- StateSeen: per agent, a reference count of the requests that went ahead with a value
  (`resource`, or a scalar `params.<name>`), keyed by a SHA-256 of the field and value.

On PostgreSQL both are maintained by a trigger on the request table (migration
0009_state_tallies, 0010_state_tallies_per_currency), in the same transaction as the row change that moves a request in or
out of a count: the insert in decide, a vote's reject or approve, an expiry, an edit, a
delete. Nothing in Python has to remember to update them, so they stay exact whatever wrote
the row; under concurrency they are exactly as exact as the rows (the agent's lock orders
the writers, the upsert's row lock orders anything else). Elsewhere (SQLite in development)
the tables stay empty and governance.state reads the rows, as before.
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import models

# Bucket sizes in seconds, largest first. A window (since, now] is answered with the 1 h
# buckets after since, the 1 min buckets before the first of those, the 1 s buckets before
# the first minute, and the rows of at most one second read from the request table.
LEVELS = (3600, 60, 1)


class StateTally(models.Model):
    """Live requests of one agent and action in one bucket; or the sum of one param over them."""

    agent = models.ForeignKey("governance.Agent", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    param = models.CharField(max_length=200, blank=True)
    level = models.IntegerField()
    bucket = models.BigIntegerField(help_text="Start of the bucket, seconds since the epoch.")
    action = models.CharField(max_length=200)
    n = models.BigIntegerField(default=0)
    total = models.DecimalField(max_digits=1000, decimal_places=500, default=0)

    class Meta:
        constraints = [
            # n and total in the index: a window is summed by an index-only scan.
            models.UniqueConstraint(fields=["agent", "param", "level", "bucket", "action"], name="state_tally_key",
                                    include=["n", "total"]),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.action} {self.param or '#'} {self.level}s@{self.bucket}: {self.n}"


class StateSeen(models.Model):
    """How many requests of one agent that went ahead used one value of one field."""

    agent = models.ForeignKey("governance.Agent", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    key = models.BinaryField(max_length=32)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "key"], name="state_seen_key")]

    def __str__(self) -> str:
        return f"{self.agent_id} {bytes(self.key).hex()[:12]}: {self.n}"


# --- the questions, as scalar subqueries for DatabaseState.prefetch (PostgreSQL) ---------

_TALLY = "governance_statetally"
_SEEN = "governance_stateseen"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = 1_000_000


def window_edges(since: datetime) -> tuple[int, int, int]:
    """(first second, minute, hour bucket starting strictly after `since`), in epoch seconds:
    every row of those buckets is inside the window (created_at > since)."""
    since_us = (since - _EPOCH) // timedelta(microseconds=1)
    return tuple((since_us // (level * _US) + 1) * level for level in reversed(LEVELS))


# Longest param name the tallies sum (migration 0010): `<param>@<currency>` fits the column.
TALLY_PARAM_MAX = 190

# currency_group() of a row's params, in SQL (the same as migration 0010's trigger).
CURRENCY_GROUP_SQL = (
    "(CASE WHEN params -> 'currency' IS NULL OR jsonb_typeof(params -> 'currency') = 'null' THEN '' "
    "WHEN jsonb_typeof(params -> 'currency') = 'string' "
    "AND (params ->> 'currency') ~ '^[ABCDEFGHIJKLMNOPQRSTUVWXYZ]{3}$' THEN params ->> 'currency' ELSE '?' END)"
)


def tally_params(param: str, currencies: tuple[str, ...] | None) -> list[str]:
    """The tally rows' param keys holding `param`'s total, in all currencies or in these groups."""
    return [param] if currencies is None else [f"{param}@{group}" for group in currencies]


def tally_sql(*, agent_id: int, match: str, value: str, param: str, since: datetime, edge: tuple[str, list],
              currencies: tuple[str, ...] | None = None) -> tuple[str, list]:
    """The live requests (param '') or the sum of `param` over them (only those in the
    currency groups `currencies`, if given), of one agent whose action matches (`match` is
    "action = %s" or "action LIKE %s" with `value`) after `since`: whole buckets from the
    tallies, plus `edge` (a subquery over the request rows of the <1 s before the first
    whole second)."""
    second, minute, hour = window_edges(since)
    column = "n" if not param else "total"
    keys = tally_params(param, currencies) if param else [""]
    head = (f"SELECT COALESCE(SUM({column}), 0) FROM {_TALLY} WHERE agent_id = %s "
            f"AND param IN ({', '.join(['%s'] * len(keys))}) AND {match} AND level = %s")
    parts = [
        (f"({head} AND bucket >= %s)", [agent_id, *keys, value, 3600, hour]),
        (f"({head} AND bucket >= %s AND bucket < %s)", [agent_id, *keys, value, 60, minute, hour]),
        (f"({head} AND bucket >= %s AND bucket < %s)", [agent_id, *keys, value, 1, second, minute]),
        edge,
    ]
    return "(" + " + ".join(sql for sql, _ in parts) + ")", [p for _, params in parts for p in params]


def edge_end(since: datetime) -> datetime:
    """Where the request rows a window still reads row by row end (exclusive)."""
    return _EPOCH + timedelta(seconds=window_edges(since)[0])


def seen_sql(*, agent_id: int, field: str, value: Any) -> tuple[str, list]:
    """Has a request of this agent that went ahead used this scalar value of `field`?"""
    return (
        f"EXISTS(SELECT 1 FROM {_SEEN} WHERE agent_id = %s AND key = airlock_seen_key(%s, %s::jsonb) AND n > 0)",
        [agent_id, field, json.dumps(value)],
    )
