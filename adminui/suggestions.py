"""Suggestions from approval history: patterns people approve every time, and patterns they
always deny. One aggregate query in the database (grouped by agent, action and resource over
the escalations of a window, using the partial index req_escalated_time), so the cost is
bounded by the window's escalations and never by a Python loop over requests."""

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
from django.utils import timezone

from governance.models import DecisionRequest

MAX_PATTERNS = 50  # per list; the page is for people, not an export
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
    annotations = {
        "approved": Count("pk", filter=Q(status=DecisionRequest.Status.APPROVED)),
        "rejected": Count("pk", filter=Q(status=DecisionRequest.Status.REJECTED)),
        "expired": Count("pk", filter=Q(status=DecisionRequest.Status.EXPIRED)),
        "max_amount": Max(NumericParam(AMOUNT_PARAM)),
        "approver_time": Sum(_wait(), filter=~Q(status=DecisionRequest.Status.EXPIRED)),
    }
    postgres = connection.vendor == "postgresql"
    if postgres:
        annotations["median_wait"] = Median(_wait(), filter=~Q(status=DecisionRequest.Status.EXPIRED))
    grouped = base.values("agent__name", "action", "resource").annotate(**annotations)
    allow_rows = grouped.filter(approved__gte=min_count, rejected=0, expired=0).order_by("-approved", "agent__name", "action", "resource")[:MAX_PATTERNS]
    deny_rows = grouped.filter(rejected__gte=min_count, approved=0).order_by("-rejected", "agent__name", "action", "resource")[:MAX_PATTERNS]
    out = {}
    for key, rows in (("allow", allow_rows), ("deny", deny_rows)):
        patterns = []
        for row in rows:
            median = row.get("median_wait") if postgres else _median_sqlite(base, row)
            patterns.append(Pattern(
                agent=row["agent__name"], action=row["action"], resource=row["resource"],
                approved=row["approved"], rejected=row["rejected"], expired=row["expired"],
                max_amount=row["max_amount"], median_wait=median, approver_time=row["approver_time"],
            ))
        out[key] = patterns
    return out


def _median_sqlite(base, row) -> timedelta | None:
    """SQLite has no percentile: the middle row of one group, read by offset (at most
    MAX_PATTERNS such queries per page, each over one group's escalations in the window)."""
    group = base.filter(agent__name=row["agent__name"], action=row["action"], resource=row["resource"]).exclude(decided_at=None)
    count = row["approved"] + row["rejected"]
    if not count:
        return None
    waits = group.annotate(wait=_wait()).order_by("wait").values_list("wait", flat=True)
    found = list(waits[count // 2 : count // 2 + 1])
    return found[0] if found else None
