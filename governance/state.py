"""The engine's StateView answered from the database.

Runs inside the decide transaction after the agent row is locked, so counts and sums for
one agent are exact under concurrency (PostgreSQL: SELECT ... FOR UPDATE on the agent; each
statement after the lock sees every decision committed before it was granted).
"""

import re
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import CharField, FloatField, Func, Q, QuerySet, Sum, Value
from django.db.models.expressions import Case, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Coalesce, Greatest
from django.db.models.lookups import Exact

from governance.models import Agent, DecisionRequest
from governance.policy.state import DONE, LIVE, positive_number

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

    def count(self, *, action, window, now):
        return self._window(action, window, now).count()

    def total(self, *, action, param, window, now):
        rows = self._window(action, window, now)
        if connection.vendor == "postgresql":
            # Summed in the database. CASE guarantees the cast only ever sees JSON numbers,
            # so a string or object stored under the same key cannot break the query.
            number = Cast(KeyTextTransform(param, "params"), FloatField())
            is_number = Exact(JSONTypeOf(KeyTransform(param, "params")), Value("number"))
            contribution = Case(When(is_number, then=Greatest(number, Value(0.0))), default=Value(0.0))
            return rows.aggregate(total=Coalesce(Sum(contribution, output_field=FloatField()), 0.0))["total"]
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
