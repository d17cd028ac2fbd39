"""The engine's StateView answered from the database.

Runs inside the decide transaction after the agent row is locked, so counts and sums for
one agent are exact under concurrency (PostgreSQL: SELECT ... FOR UPDATE on the agent).
Each question is its own statement, issued after the lock, so under READ COMMITTED it sees
every decision committed before the lock was granted.

prefetch() answers all the questions of one decision in a single statement (one scalar
subquery per question) instead of one round trip each: the agent stays locked for less
time, which bounds how many decisions per second one agent can get.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Exists, F, FloatField, Func, IntegerField, Subquery
from django.db.models.expressions import Expression

from governance.models import Agent, DecisionRequest

# Requests that did happen or may still happen. Denied, rejected and expired ones did not.
LIVE = ("allowed", "approved", "pending")
# Only actions that really went ahead make a value familiar; asking again is not enough.
DONE = ("allowed", "approved")


class JsonNumberSum(Expression):
    """SUM of params[key] over the rows where it is a JSON number (never a bool or a string),
    0 when there are none: what total() adds up in Python, done by the database."""

    output_field = FloatField()
    contains_aggregate = False  # one value per subquery; no GROUP BY wanted

    def __init__(self, key: str):
        super().__init__()
        self.key = key

    def as_postgresql(self, compiler, conn):
        column, params = compiler.compile(F("params").resolve_expression(compiler.query))
        sql = (
            f"COALESCE(SUM(CASE WHEN jsonb_typeof({column} -> %s) = 'number' "
            f"THEN ({column} ->> %s)::numeric END), 0)::double precision"
        )
        return sql, (*params, self.key, *params, self.key)

    def as_sqlite(self, compiler, conn):
        column, params = compiler.compile(F("params").resolve_expression(compiler.query))
        path = '$."' + self.key.replace("\\", "\\\\").replace('"', '\\"') + '"'
        sql = (
            f"TOTAL(CASE WHEN json_type({column}, %s) IN ('integer', 'real') "
            f"THEN json_extract({column}, %s) END)"
        )
        return sql, (*params, path, *params, path)


def _key(kind: str, kwargs: dict) -> tuple | None:
    key = (kind, *sorted(kwargs.items()))
    try:
        hash(key)
    except TypeError:  # a list or object value: asked directly, not batched
        return None
    return key


class DatabaseState:
    def __init__(self, agent: Agent):
        self.agent = agent
        self._answers: dict[tuple, Any] = {}

    def _window(self, action: str, window: int, now: datetime):
        return DecisionRequest.objects.filter(
            agent=self.agent, action=action, created_at__gt=now - timedelta(seconds=window), status__in=LIVE
        )

    def _seen_rows(self, field: str, value):
        rows = DecisionRequest.objects.filter(agent=self.agent, status__in=DONE)
        if field == "resource":
            return rows.filter(resource=value)
        return rows.filter(**{f"params__{field[7:]}": value})

    def _expression(self, kind: str, kw: dict):
        if kind == "count":
            rows = self._window(kw["action"], kw["window"], kw["now"]).order_by()
            return Subquery(rows.annotate(n=Func(F("pk"), function="COUNT", output_field=IntegerField())).values("n"))
        if kind == "total" and connection.vendor in ("postgresql", "sqlite"):
            rows = self._window(kw["action"], kw["window"], kw["now"]).order_by()
            return Subquery(rows.annotate(s=JsonNumberSum(kw["param"])).values("s"))
        if kind == "seen":
            return Exists(self._seen_rows(kw["field"], kw["value"]))
        return None

    def prefetch(self, questions: list[tuple[str, dict]]) -> None:
        """Answer these questions in one statement; count/total/seen then use the answers."""
        columns: dict[str, tuple[tuple, Any]] = {}
        for kind, kw in questions:
            key = _key(kind, kw)
            expression = self._expression(kind, kw) if key is not None else None
            if expression is not None and key not in self._answers:
                columns[f"q{len(columns)}"] = (key, expression)
        if not columns:
            return
        row = Agent.objects.filter(pk=self.agent.pk).values(**{name: e for name, (_k, e) in columns.items()}).get()
        for name, (key, _e) in columns.items():
            self._answers[key] = row[name]

    def _answer(self, kind: str, kw: dict):
        key = _key(kind, kw)
        return self._answers.get(key) if key is not None else None

    def count(self, *, action, window, now):
        answer = self._answer("count", {"action": action, "window": window, "now": now})
        if answer is not None:
            return answer
        return self._window(action, window, now).count()

    def total(self, *, action, param, window, now):
        answer = self._answer("total", {"action": action, "param": param, "window": window, "now": now})
        if answer is not None:
            return float(answer)
        if connection.vendor in ("postgresql", "sqlite"):
            rows = self._window(action, window, now).order_by().annotate(s=JsonNumberSum(param))
            return float(rows.values_list("s", flat=True)[0])
        total = 0.0
        for value in self._window(action, window, now).values_list(f"params__{param}", flat=True):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total += value
        return total

    def seen(self, *, field, value):
        answer = self._answer("seen", {"field": field, "value": value})
        if answer is not None:
            return bool(answer)
        return self._seen_rows(field, value).exists()

    def recent_actions(self, *, key, value, within, now):
        rows = DecisionRequest.objects.filter(created_at__gt=now - timedelta(seconds=within), status__in=LIVE)
        if key == "resource":
            rows = rows.filter(resource=value)
        elif key == "context.session":
            rows = rows.filter(session=value)
        else:
            rows = rows.filter(**{f"context__{key.removeprefix('context.')}": value})
        return list(rows.order_by("created_at").values_list("action", "created_at"))
