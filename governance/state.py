"""The engine's StateView answered from the database.

Runs inside the decide transaction after the agent row is locked, so counts and sums for
one agent are exact under concurrency (PostgreSQL: SELECT ... FOR UPDATE on the agent).
Each statement is issued after the lock, so under READ COMMITTED it sees every decision
committed before the lock was granted.

This is the hottest read path of decide. On PostgreSQL and SQLite the questions are
answered by hand-written SQL, all the questions of one decision in one statement
(prefetch(): one scalar subquery each), because building the same statements with the
ORM cost more CPU than everything else in a decision. Other databases, and novelty of
params values (JSON equality differs per database), use the ORM.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from governance.models import Agent, DecisionRequest

# Requests that did happen or may still happen. Denied, rejected and expired ones did not.
LIVE = ("allowed", "approved", "pending")
# Only actions that really went ahead make a value familiar; asking again is not enough.
DONE = ("allowed", "approved")

_TABLE = DecisionRequest._meta.db_table
_WINDOW = f"FROM {_TABLE} WHERE agent_id = %s AND action = %s AND created_at > %s AND status IN (%s, %s, %s)"
# Sums add JSON numbers only: never a bool, never a string such as "900".
_SUM = {
    "postgresql": (
        "COALESCE(SUM(CASE WHEN jsonb_typeof(params -> %s) = 'number' "
        "THEN (params ->> %s)::numeric END), 0)::double precision"
    ),
    "sqlite": "TOTAL(CASE WHEN json_type(params, %s) IN ('integer', 'real') THEN json_extract(params, %s) END)",
}


def _key(kind: str, kwargs: dict) -> tuple | None:
    key = (kind, *sorted(kwargs.items()))
    try:
        hash(key)
    except TypeError:  # a list or object value: asked through the ORM
        return None
    return key


class DatabaseState:
    def __init__(self, agent: Agent):
        self.agent = agent
        self._answers: dict[tuple, Any] = {}

    # --- hand-written SQL (PostgreSQL, SQLite) ----------------------------------------
    def _window_params(self, action: str, window: int, now: datetime) -> list:
        since = connection.ops.adapt_datetimefield_value(now - timedelta(seconds=window))
        return [self.agent.pk, action, since, *LIVE]

    def _sql(self, kind: str, kw: dict) -> tuple[str, list] | None:
        if connection.vendor not in _SUM:
            return None
        if kind == "count":
            return f"(SELECT COUNT(*) {_WINDOW})", self._window_params(kw["action"], kw["window"], kw["now"])
        if kind == "total":
            param = kw["param"]
            key = param if connection.vendor == "postgresql" else '$."' + param.replace("\\", "\\\\").replace('"', '\\"') + '"'
            window = self._window_params(kw["action"], kw["window"], kw["now"])
            return f"(SELECT {_SUM[connection.vendor]} {_WINDOW})", [key, key, *window]
        if kind == "seen" and kw["field"] == "resource":
            sql = f"EXISTS(SELECT 1 FROM {_TABLE} WHERE agent_id = %s AND status IN (%s, %s) AND resource = %s)"
            return sql, [self.agent.pk, *DONE, kw["value"]]
        return None

    def prefetch(self, questions: list[tuple[str, dict]]) -> None:
        """Answer these questions in one statement; count/total/seen then use the answers."""
        keys, columns, params = [], [], []
        for kind, kw in questions:
            key = _key(kind, kw)
            sql = self._sql(kind, kw) if key is not None and key not in self._answers else None
            if sql is not None and key not in keys:
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

    # --- the StateView questions -------------------------------------------------------
    def _window(self, action: str, window: int, now: datetime):
        return DecisionRequest.objects.filter(
            agent=self.agent, action=action, created_at__gt=now - timedelta(seconds=window), status__in=LIVE
        )

    def count(self, *, action, window, now):
        answer = self._answer("count", {"action": action, "window": window, "now": now})
        if answer is not None:
            return answer
        return self._window(action, window, now).count()

    def total(self, *, action, param, window, now):
        answer = self._answer("total", {"action": action, "param": param, "window": window, "now": now})
        if answer is not None:
            return float(answer)
        total = 0.0
        for value in self._window(action, window, now).values_list(f"params__{param}", flat=True):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total += value
        return total

    def seen(self, *, field, value):
        answer = self._answer("seen", {"field": field, "value": value})
        if answer is not None:
            return bool(answer)
        rows = DecisionRequest.objects.filter(agent=self.agent, status__in=DONE)
        if field == "resource":
            return rows.filter(resource=value).exists()
        return rows.filter(**{f"params__{field[7:]}": value}).exists()

    def recent_actions(self, *, key, value, within, now):
        rows = DecisionRequest.objects.filter(created_at__gt=now - timedelta(seconds=within), status__in=LIVE)
        if key == "resource":
            rows = rows.filter(resource=value)
        elif key == "context.session":
            rows = rows.filter(session=value)
        else:
            rows = rows.filter(**{f"context__{key.removeprefix('context.')}": value})
        return list(rows.order_by("created_at").values_list("action", "created_at"))
