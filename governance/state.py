"""The engine's StateView answered from the database.

Runs inside the decide transaction after the agent row is locked, so counts and sums for
one agent are exact under concurrency (PostgreSQL: SELECT ... FOR NO KEY UPDATE on the agent;
each statement after the lock sees every decision committed before it was granted). Sequences
read other agents' rows (recent_actions): decide takes the sequence keys' advisory locks
before evaluating (governance/locks.py), so a step in flight is committed before a chain is
read.

On PostgreSQL, velocity, cumulative and novelty are answered from bounded-cost tables kept
by a trigger (governance/state_tables.py, docs/performance.md): their cost does not grow with
the agent's history. The row-reading queries below answer elsewhere (SQLite), and for what
the tables do not cover (globs with character sets, novelty of lists and objects).

This is the hottest read path of decide. The questions of one decision are answered by
hand-written SQL in a single statement (prefetch(): one scalar subquery each, issued after
the lock like the rest), because building them with the ORM cost more CPU than everything
else in a decision (bench/profile_decide.py). The ORM versions below (_orm_*) stay as the
reference and answer what the SQL does not cover (sums on SQLite, novelty of values that
PostgreSQL cannot test with @>); tests check that both agree.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import CharField, DecimalField, F, Func, Lookup, Q, QuerySet, Sum, Value
from django.db.models.expressions import Case, RawSQL, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Coalesce, Greatest, Least
from django.db.models.lookups import Exact

from governance.models import Agent, DecisionRequest
from governance.policy.globs import glob_match, parse_glob
from governance.policy.state import DONE, LIVE, NUMBER_CAP, currency_group, positive_number
from governance.state_tables import (
    CURRENCY_GROUP_SQL,
    TALLY_PARAM_MAX,
    edge_end,
    seen_sql,
    tally_sql,
)
from shared.db import prepared_cursor

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


def glob_sql(pattern: str, vendor: str) -> tuple[str, str]:
    """(operator, operand) testing a column against the glob inside the database: SQLite's
    GLOB (case sensitive, unlike its LIKE) or LIKE elsewhere, never a regular expression (on
    SQLite, Django's REGEXP is Python's backtracking `re`, run in the web process:
    `*a*a*a*a*a*b` over long actions froze it for a minute). Both engines give up on a `*`/`%`
    as soon as a later one has run out of text (SQLite's NOWILDCARDMATCH, PostgreSQL's
    LIKE_ABORT), so a match costs at most length x pattern steps, never exponential. Character sets ([...]) become a single-character
    wildcard here, a superset: action_filter narrows those in Python."""
    glob = parse_glob(pattern)
    pieces = []
    for i, segment in enumerate(glob.segments):
        if i:
            pieces.append("*" if vendor == "sqlite" else "%")
        for token in segment:
            if not isinstance(token, str):
                pieces.append("?" if vendor == "sqlite" else "_")
            elif vendor == "sqlite":
                pieces.append(f"[{token}]" if token in "*?[" else token)
            else:
                pieces.append("\\" + token if token in "%_\\" else token)
    return ("GLOB" if vendor == "sqlite" else "LIKE"), "".join(pieces)


class GlobMatch(Lookup):
    """`column` matches the glob, as an expression for filter(): GlobMatch(F("action"), "crm.*")."""

    lookup_name = "airlock_glob"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = compiler.compile(self.lhs)
        operator, operand = glob_sql(self.rhs, connection.vendor)
        return f"{lhs} {operator} %s", [*params, operand]


def action_filter(pattern: str, within: QuerySet | None = None) -> Q:
    """The glob of a capability (fnmatch syntax) as a filter on DecisionRequest.action.
    A pattern with character sets is narrowed to the exact actions among `within` (default:
    all rows) that match, tested in Python with the linear-time matcher."""
    glob = parse_glob(pattern)
    if glob.literal:
        return Q(action=pattern)
    like = Q(GlobMatch(F("action"), pattern))
    if not glob.has_sets:
        return like
    rows = within if within is not None else DecisionRequest.objects.all()
    candidates = rows.filter(like).values_list("action", flat=True).distinct()
    return like & Q(action__in=[a for a in candidates if glob_match(a, glob)])


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
        if parse_glob(action).literal:
            match, value = "action = %s", action
        else:
            operator, value = glob_sql(action, connection.vendor)
            match = f"action {operator} %s"
        since = connection.ops.adapt_datetimefield_value(now - timedelta(seconds=window))
        sql = f"agent_id = %s AND {match} AND created_at > %s AND status IN (%s, %s, %s)"
        return sql, [self.agent.pk, value, since, *LIVE]

    def _sql(self, kind: str, kw: dict) -> tuple[str, list] | None:
        if connection.vendor not in ("postgresql", "sqlite"):
            return None
        if kind in ("count", "total") and parse_glob(kw["action"]).has_sets:
            return None  # SQL can only approximate character sets: the ORM answers exactly
        if kind == "total" and len(kw["param"]) > TALLY_PARAM_MAX:
            return None  # not in the tallies (migration 0010): the ORM answers
        if connection.vendor == "postgresql":
            return self._tally_sql(kind, kw)
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

    def _tally_sql(self, kind: str, kw: dict) -> tuple[str, list] | None:
        """PostgreSQL: the same answers from the bounded-cost tables (governance/state_tables.py),
        whatever the agent's history holds: buckets for whole seconds, rows only for the
        fraction of a second at the window's start."""
        if kind == "seen":
            value = kw["value"]
            if kw["field"] != "resource" and not (value is None or isinstance(value, (str, int, float, bool))):
                return None  # lists and objects: the ORM answers
            return seen_sql(agent_id=self.agent.pk, field=kw["field"], value=value)
        since = kw["now"] - timedelta(seconds=kw["window"])
        where, params = self._where(kw["action"], kw["window"], kw["now"])
        where, params = f"{where} AND created_at < %s", [*params, edge_end(since)]
        currencies = kw.get("currencies")
        if kind == "count":
            edge, param = (f"(SELECT COUNT(*) FROM {_TABLE} WHERE {where})", params), ""
        else:
            param = kw["param"]
            if currencies is not None:
                # The rows of the edge, filtered on params->>'currency' as the trigger groups it.
                where = f"{where} AND {CURRENCY_GROUP_SQL} IN ({', '.join(['%s'] * len(currencies))})"
                params = [*params, *currencies]
            edge = (
                f"(SELECT COALESCE(SUM(CASE WHEN jsonb_typeof(params -> %s) = 'number' "
                f"THEN GREATEST(LEAST((params ->> %s)::numeric, %s), 0) ELSE 0 END), 0) FROM {_TABLE} WHERE {where})",
                [param, param, Decimal(NUMBER_CAP), *params],
            )
        action = kw["action"]
        if parse_glob(action).literal:
            match, value = "action = %s", action
        else:
            operator, value = glob_sql(action, connection.vendor)
            match = f"action {operator} %s"
        return tally_sql(agent_id=self.agent.pk, match=match, value=value, param=param, since=since, edge=edge,
                         currencies=currencies if param else None)

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
        with prepared_cursor() as cursor:
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
        if answer is not None:
            return int(answer if limit is None else min(answer, limit))
        return self._orm_count(action=action, window=window, now=now, limit=limit)

    def total(self, *, action, param, window, now, currencies=None):
        kw = {"action": action, "param": param, "window": window, "now": now}
        if currencies is not None:
            kw["currencies"] = tuple(currencies)
        answer = self._answer("total", kw)
        return float(answer) if answer is not None else self._orm_total(**kw)

    def seen(self, *, field, value):
        answer = self._answer("seen", {"field": field, "value": value})
        return bool(answer) if answer is not None else self._orm_seen(field=field, value=value)

    # --- the ORM reference ---------------------------------------------------------------

    def _window(self, action: str, window: int, now: datetime) -> QuerySet:
        rows = DecisionRequest.objects.filter(
            agent=self.agent, created_at__gt=now - timedelta(seconds=window), status__in=LIVE
        )
        return rows.filter(action_filter(action, within=rows))

    def _orm_count(self, *, action, window, now, limit=None):
        rows = self._window(action, window, now)
        # The engine only needs to know whether the limit is reached: stop reading there.
        return (rows[:limit] if limit is not None else rows).count()

    def _orm_total(self, *, action, param, window, now, currencies=None):
        rows = self._window(action, window, now)
        if currencies is not None and connection.vendor == "postgresql":
            # Only the requests in these currency groups (params->>'currency', as the trigger).
            rows = rows.alias(currency_group=RawSQL(CURRENCY_GROUP_SQL, [], output_field=CharField())).filter(
                currency_group__in=list(currencies))
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
        return sum(
            positive_number(p.get(param)) for p in rows.values_list("params", flat=True).iterator()
            if currencies is None or currency_group(p) in currencies
        )

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

    def pending(self, *, now, limit=None):
        """Escalations of this agent still pending: exact, as decide holds the agent's lock."""
        rows = DecisionRequest.objects.filter(agent=self.agent, status="pending", expires_at__gt=now)
        return (rows[:limit] if limit is not None else rows).count()

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
