"""The engine's StateView answered from the database.

Runs inside the decide transaction after the agent row is locked, so counts and sums for
one agent are exact under concurrency (PostgreSQL: SELECT ... FOR NO KEY UPDATE on the agent;
each statement after the lock sees every decision committed before it was granted). Sequences
read other agents' rows (recent_actions): decide takes the sequence keys' advisory locks
before evaluating (governance/locks.py), so a step in flight is committed before a chain is
read.

This is the hottest read path of decide. The questions of one decision are answered by
hand-written SQL in a single statement (prefetch(): one scalar subquery each, issued after
the lock like the rest), because building them with the ORM cost more CPU than everything
else in a decision (bench/profile_decide.py). The ORM versions below (_orm_*) stay as the
reference and answer what the SQL does not cover (sums on SQLite, novelty of values that
PostgreSQL cannot test with @>); tests check that both agree.
"""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import CharField, DecimalField, Func, Q, QuerySet, Sum, Value
from django.db.models.expressions import Case, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Coalesce, Greatest, Least
from django.db.models.lookups import Exact

from governance.models import Agent, DecisionRequest
from governance.policy.state import DONE, LIVE, NUMBER_CAP, positive_number

SESSION_LENGTH = DecisionRequest._meta.get_field("session").max_length
_TABLE = DecisionRequest._meta.db_table
_PARAMS = DecisionRequest._meta.get_field("params")


def _key(kind: str, kwargs: dict) -> tuple | None:
    """A hashable key for one question; None for values that cannot be one (lists, objects)."""
    key = (kind, *sorted(kwargs.items()))
    try:
        hash(key)
    except TypeError:
        return None
    # 1, 1.0 and True hash alike; the value's type is part of what is asked.
    return (*key, type(kwargs.get("value")).__name__)


def action_filter(pattern: str) -> Q:
    """The glob of a capability (fnmatch syntax) as a filter on DecisionRequest.action."""
    regex = action_regex(pattern)
    return Q(action=pattern) if regex is None else Q(action__regex=regex)


def action_regex(pattern: str) -> str | None:
    """The glob as an anchored regular expression, or None when it has no wildcard."""
    if not any(ch in pattern for ch in "*?["):
        return None
    regex, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            regex += ".*"
        elif ch == "?":
            regex += "."
        elif ch == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            body = "^" + body[1:] if body.startswith("!") else body
            regex += "[" + body.replace("\\", "\\\\") + "]"
            i = end
        else:
            regex += re.escape(ch)
        i += 1
    return regex + "$"


class JSONTypeOf(Func):
    """PostgreSQL's jsonb_typeof: 'number', 'string', ... or NULL when the key is absent."""

    function = "jsonb_typeof"
    output_field = CharField()


class DatabaseState:
    """StateView over DecisionRequest rows, from `agent`'s point of view."""

    def __init__(self, agent: Agent):
        self.agent = agent
        self._answers: dict[tuple, Any] = {}

    # --- hand-written SQL, all questions of a decision in one statement ------------------
    def _where(self, action: str, window: int, now: datetime) -> tuple[str, list]:
        regex = action_regex(action)
        if regex is None:
            match, value = "action = %s", action
        else:
            match, value = ("action ~ %s" if connection.vendor == "postgresql" else "action REGEXP %s"), regex
        since = connection.ops.adapt_datetimefield_value(now - timedelta(seconds=window))
        sql = f"agent_id = %s AND {match} AND created_at > %s AND status IN (%s, %s, %s)"
        return sql, [self.agent.pk, value, since, *LIVE]

    def _sql(self, kind: str, kw: dict) -> tuple[str, list] | None:
        if connection.vendor not in ("postgresql", "sqlite"):
            return None
        if kind == "count":
            where, params = self._where(kw["action"], kw["window"], kw["now"])
            if kw.get("limit") is None:
                return f"(SELECT COUNT(*) FROM {_TABLE} WHERE {where})", params
            # Counting stops at the limit, as rows[:limit].count() does.
            return f"(SELECT COUNT(*) FROM (SELECT 1 FROM {_TABLE} WHERE {where} LIMIT %s) AS w)", [*params, kw["limit"]]
        if kind == "total" and connection.vendor == "postgresql":
            where, params = self._where(kw["action"], kw["window"], kw["now"])
            param = kw["param"]
            return (
                f"(SELECT COALESCE(SUM(CASE WHEN jsonb_typeof(params -> %s) = 'number' "
                f"THEN GREATEST(LEAST((params ->> %s)::numeric, %s), 0) ELSE 0 END), 0) FROM {_TABLE} WHERE {where})",
                [param, param, Decimal(NUMBER_CAP), *params],
            )
        if kind == "seen":
            done = "agent_id = %s AND status IN (%s, %s)"
            if kw["field"] == "resource":
                return f"EXISTS(SELECT 1 FROM {_TABLE} WHERE {done} AND resource = %s)", [self.agent.pk, *DONE, kw["value"]]
            value = kw["value"]
            if connection.vendor == "postgresql" and (value is None or isinstance(value, (str, int, float, bool))):
                contains = _PARAMS.get_db_prep_value({kw["field"].removeprefix("params."): value}, connection)
                return f"EXISTS(SELECT 1 FROM {_TABLE} WHERE {done} AND params @> %s)", [self.agent.pk, *DONE, contains]
        return None

    def prefetch(self, questions: list[tuple[str, dict]]) -> None:
        """Answer these questions in one statement; count/total/seen then use the answers."""
        keys, columns, params = [], [], []
        for kind, kw in questions:
            key = _key(kind, kw)
            if key is None or key in self._answers or key in keys:
                continue
            sql = self._sql(kind, kw)
            if sql is not None:
                keys.append(key)
                columns.append(sql[0])
                params.extend(sql[1])
        if not columns:
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(columns), params)
            row = cursor.fetchone()
        self._answers.update(zip(keys, row, strict=True))

    def _answer(self, kind: str, kw: dict) -> Any:
        key = _key(kind, kw)
        if key is None:
            return None
        if key not in self._answers:
            self.prefetch([(kind, kw)])
        return self._answers.get(key)

    def count(self, *, action, window, now, limit=None):
        answer = self._answer("count", {"action": action, "window": window, "now": now, "limit": limit})
        return answer if answer is not None else self._orm_count(action=action, window=window, now=now, limit=limit)

    def total(self, *, action, param, window, now):
        answer = self._answer("total", {"action": action, "param": param, "window": window, "now": now})
        return float(answer) if answer is not None else self._orm_total(action=action, param=param, window=window, now=now)

    def seen(self, *, field, value):
        answer = self._answer("seen", {"field": field, "value": value})
        return bool(answer) if answer is not None else self._orm_seen(field=field, value=value)

    # --- the ORM reference ---------------------------------------------------------------

    def _window(self, action: str, window: int, now: datetime) -> QuerySet:
        return DecisionRequest.objects.filter(
            action_filter(action), agent=self.agent, created_at__gt=now - timedelta(seconds=window), status__in=LIVE
        )

    def _orm_count(self, *, action, window, now, limit=None):
        rows = self._window(action, window, now)
        # The engine only needs to know whether the limit is reached: stop reading there.
        return (rows[:limit] if limit is not None else rows).count()

    def _orm_total(self, *, action, param, window, now):
        rows = self._window(action, window, now)
        if connection.vendor == "postgresql":
            # Summed in the database. CASE guarantees the cast only ever sees JSON numbers,
            # so a string or object stored under the same key cannot break the query.
            # Numeric (not double) first, clamped like positive_number(): a 400-digit
            # integer is still a JSON number and must not overflow the cast.
            number = Func(KeyTextTransform(param, "params"), template="(%(expressions)s)::numeric", output_field=DecimalField())
            clamped = Greatest(Least(number, Value(Decimal(NUMBER_CAP))), Value(Decimal(0)))
            is_number = Exact(JSONTypeOf(KeyTransform(param, "params")), Value("number"))
            contribution = Case(When(is_number, then=clamped), default=Value(Decimal(0)), output_field=DecimalField())
            return float(rows.aggregate(total=Coalesce(Sum(contribution), Value(Decimal(0))))["total"])
        # Elsewhere (SQLite in development) read whole params: JSON_EXTRACT would return the
        # string "7" and the number 7 alike.
        return sum(positive_number(p.get(param)) for p in rows.values_list("params", flat=True).iterator())

    def _orm_seen(self, *, field, value):
        rows = DecisionRequest.objects.filter(agent=self.agent, status__in=DONE)
        if field == "resource":
            return rows.filter(resource=value).exists()
        name = field.removeprefix("params.")
        if connection.vendor == "postgresql" and (value is None or isinstance(value, (str, int, float, bool))):
            # params @> {"name": value}: answered by the GIN index (migration 0003), so a value
            # never used costs an index probe, not a read of the agent's whole history.
            return rows.filter(params__contains={name: value}).exists()
        return rows.alias(value=KeyTransform(name, "params")).filter(value=value).exists()

    def recent_actions(self, *, key, value, within, now):
        rows = DecisionRequest.objects.filter(created_at__gt=now - timedelta(seconds=within), status__in=LIVE)
        if key == "resource":
            rows = rows.filter(resource=value)
        elif key == "context.session":
            # The column holds the first SESSION_LENGTH characters; compare like with like.
            rows = rows.filter(session=value[:SESSION_LENGTH])
        else:
            rows = rows.alias(value=KeyTransform(key.removeprefix("context."), "context")).filter(value=value)
        return list(rows.order_by("created_at").values_list("action", "created_at"))
