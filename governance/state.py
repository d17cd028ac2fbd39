"""The engine's StateView answered from the database.

Runs inside the decide transaction after the agent row is locked, so counts and sums for
one agent are exact under concurrency (PostgreSQL: SELECT ... FOR UPDATE on the agent; each
statement after the lock sees every decision committed before it was granted).
"""

import re
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import CharField, DecimalField, Func, Q, QuerySet, Sum, Value
from django.db.models.expressions import Case, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Coalesce, Greatest, Least
from django.db.models.lookups import Exact

from governance.models import Agent, DecisionRequest
from governance.policy.state import DONE, LIVE, NUMBER_CAP, positive_number

SESSION_LENGTH = DecisionRequest._meta.get_field("session").max_length


def action_filter(pattern: str) -> Q:
    """The glob of a capability (fnmatch syntax) as a filter on DecisionRequest.action."""
    if not any(ch in pattern for ch in "*?["):
        return Q(action=pattern)
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
    return Q(action__regex=regex + "$")


class JSONTypeOf(Func):
    """PostgreSQL's jsonb_typeof: 'number', 'string', ... or NULL when the key is absent."""

    function = "jsonb_typeof"
    output_field = CharField()


class DatabaseState:
    """StateView over DecisionRequest rows, from `agent`'s point of view."""

    def __init__(self, agent: Agent):
        self.agent = agent

    def _window(self, action: str, window: int, now: datetime) -> QuerySet:
        return DecisionRequest.objects.filter(
            action_filter(action), agent=self.agent, created_at__gt=now - timedelta(seconds=window), status__in=LIVE
        )

    def count(self, *, action, window, now, limit=None):
        rows = self._window(action, window, now)
        # The engine only needs to know whether the limit is reached: stop reading there.
        return (rows[:limit] if limit is not None else rows).count()

    def total(self, *, action, param, window, now):
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

    def seen(self, *, field, value):
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
