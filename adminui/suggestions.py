"""Suggestions from approval history: patterns people approve every time, and patterns they
always deny. One hash-aggregated query in the database (grouped by agent, action and resource
over the answered escalations of a window), then one query for the medians of the listed
patterns (at most 2 x MAX_PATTERNS groups, found through the partial index req_escalated_time
on (agent, action, resource, created_at) WHERE decision = 'escalate'). The cost follows the
escalations, not the automatic allows and denies that make up most of a history, and no
Python loop walks requests (bench/suggestions.py)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Max,
    Q,
    Sum,
)
from django.db.models.functions import Greatest
from django.utils import timezone

from governance.models import Agent, DecisionRequest

MAX_PATTERNS = 50  # per list; the page is for people, not an export
MAX_GROUPS = 5_000  # qualifying patterns read back from the grouped query, most answered first
AMOUNT_PARAM = "amount"


class NumericParam(Func):
    """params[name] as a number when it is one, else NULL (never a cast error)."""

    output_field = FloatField()

    def __init__(self, name: str):
        super().__init__(F("params"))
        self.name = name

    def as_sql(self, compiler, connection, **extra):  # SQLite and the rest
        column, params = compiler.compile(self.source_expressions[0])
        path = f"$.{self.name}"
        return (
            f"CASE WHEN json_type({column}, %s) IN ('integer', 'real') THEN json_extract({column}, %s) END",
            [*params, path, *params, path],
        )

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        return (
            f"CASE WHEN jsonb_typeof({column} -> %s) = 'number' THEN ({column} ->> %s)::double precision END",
            [*params, self.name, *params, self.name],
        )


class Median(Aggregate):
    """percentile_cont(0.5) over an interval (PostgreSQL only). An Aggregate, so that its
    argument is aggregated over, not added to the GROUP BY."""

    function = "percentile_cont"
    name = "Median"
    template = "percentile_cont(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


@dataclass(frozen=True)
class Pattern:
    agent: str
    action: str
    resource: str
    approved: int
    rejected: int
    expired: int
    max_amount: float | None
    median_wait: timedelta | None
    approver_time: timedelta | None

    @property
    def total(self) -> int:
        return self.approved + self.rejected + self.expired


def _wait():
    return ExpressionWrapper(F("decided_at") - F("created_at"), output_field=DurationField())


def suggestions_find(*, days: int = 30, min_count: int = 5, now: datetime | None = None) -> dict[str, list[Pattern]]:
    """{"allow": always approved (≥ min_count, no deny, no expiry), "deny": always rejected}."""
    since = (now or timezone.now()) - timedelta(days=days)
    statuses = [DecisionRequest.Status.APPROVED, DecisionRequest.Status.REJECTED, DecisionRequest.Status.EXPIRED]
    base = DecisionRequest.objects.filter(
        decision=DecisionRequest.Decision.ESCALATE, created_at__gte=since, status__in=statuses
    )
    approved = Count("pk", filter=Q(status=DecisionRequest.Status.APPROVED))
    rejected = Count("pk", filter=Q(status=DecisionRequest.Status.REJECTED))
    expired = Count("pk", filter=Q(status=DecisionRequest.Status.EXPIRED))
    # Grouped by the agent's id (an integer), with plain aggregates only: the database can
    # hash-aggregate the window's escalations without sorting them. The median, which
    # needs a sort, is computed afterwards for the listed patterns only.
    rows = list(
        base.values("agent_id", "action", "resource")
        .annotate(
            approved=approved, rejected=rejected, expired=expired,
            max_amount=Max(NumericParam(AMOUNT_PARAM)),
            approver_time=Sum(_wait(), filter=~Q(status=DecisionRequest.Status.EXPIRED)),
            answers=Greatest(approved, rejected),
        )
        .filter(
            Q(approved__gte=min_count, rejected=0, expired=0) | Q(rejected__gte=min_count, approved=0)
        )
        .order_by("-answers", "agent_id", "action", "resource")[:MAX_GROUPS]
    )
    # Each list keeps its own top MAX_PATTERNS (a long allow list must not crowd out denies).
    allow = [r for r in rows if r["approved"]][:MAX_PATTERNS]
    deny = [r for r in rows if not r["approved"]][:MAX_PATTERNS]
    rows = allow + deny
    names = dict(Agent.objects.filter(pk__in={r["agent_id"] for r in rows}).values_list("pk", "name"))
    medians = _medians(base, rows)
    out: dict[str, list[Pattern]] = {"allow": [], "deny": []}
    for row in rows:
        key = (row["agent_id"], row["action"], row["resource"])
        kind = "allow" if row["approved"] else "deny"
        out[kind].append(Pattern(
            agent=names.get(row["agent_id"], "?"), action=row["action"], resource=row["resource"],
            approved=row["approved"], rejected=row["rejected"], expired=row["expired"],
            max_amount=row["max_amount"], median_wait=medians.get(key), approver_time=row["approver_time"],
        ))
    return out


def _medians(base, rows) -> dict[tuple, timedelta]:
    """Median wait of each listed pattern (answered requests only)."""
    if not rows:
        return {}
    answered = base.exclude(status=DecisionRequest.Status.EXPIRED).exclude(decided_at=None)
    if connection.vendor == "postgresql":
        which = Q()
        for row in rows:
            which |= Q(agent_id=row["agent_id"], action=row["action"], resource=row["resource"])
        found = answered.filter(which).values("agent_id", "action", "resource").annotate(median=Median(_wait()))
        return {(r["agent_id"], r["action"], r["resource"]): r["median"] for r in found}
    # SQLite has no percentile: the middle row of each group, read by offset.
    out = {}
    for row in rows:
        group = answered.filter(agent_id=row["agent_id"], action=row["action"], resource=row["resource"])
        count = row["approved"] + row["rejected"]
        waits = group.annotate(wait=_wait()).order_by("wait").values_list("wait", flat=True)
        middle = list(waits[count // 2 : count // 2 + 1])
        if middle:
            out[(row["agent_id"], row["action"], row["resource"])] = middle[0]
    return out
