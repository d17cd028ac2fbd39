"""Numbers behind the dashboard's charts. Each is one grouped query over an indexed window."""

from datetime import UTC, datetime, timedelta
from statistics import median

from django.db.models import Case, CharField, Count, F, Value, When
from django.db.models.functions import TruncDate, TruncHour

from governance.models import Agent, Anomaly, DecisionRequest

# Stacking order and colours of the outcomes (colour-blind-safe palette, Okabe–Ito).
OUTCOMES = (
    ("allowed", "#009E73"),
    ("approved", "#56B4E9"),
    ("pending", "#E69F00"),
    ("rejected", "#CC79A7"),
    ("expired", "#999999"),
    ("denied", "#D55E00"),
)
LATENCY_BUCKETS = (
    (60, "< 1 min"),
    (120, "1–2 min"),
    (300, "2–5 min"),
    (600, "5–10 min"),
    (900, "10–15 min"),
    (1800, "15–30 min"),
    (3600, "30–60 min"),
    (None, "> 1 h"),
)


def _outcome(now: datetime) -> Case:
    """The status a person should see: pending past its deadline is expired."""
    return Case(
        When(status=DecisionRequest.Status.PENDING, expires_at__lte=now, then=Value("expired")),
        default=F("status"),
        output_field=CharField(),
    )


def decisions_per_hour(*, now: datetime, hours: int) -> dict:
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    rows = (
        DecisionRequest.objects.filter(created_at__gte=start)
        .annotate(hour=TruncHour("created_at", tzinfo=UTC), outcome=_outcome(now))
        .values_list("hour", "outcome")
        .annotate(n=Count("id"))
    )
    slots = [start + timedelta(hours=i) for i in range(hours)]
    index = {slot: i for i, slot in enumerate(slots)}
    series = {name: [0] * hours for name, _ in OUTCOMES}
    for hour, outcome, n in rows:
        if hour in index and outcome in series:
            series[outcome][index[hour]] += n
    label = "%H:00" if hours <= 24 else "%a %H:00"
    return {
        "labels": [slot.strftime(label) for slot in slots],
        "datasets": [{"label": name, "data": series[name], "color": color} for name, color in OUTCOMES],
        "total": sum(sum(v) for v in series.values()),
    }


def approval_latency(*, now: datetime, days: int = 7) -> dict:
    """Escalation created → answered by a person (approved or rejected), as a histogram."""
    rows = DecisionRequest.objects.filter(
        decision=DecisionRequest.Decision.ESCALATE,
        status__in=(DecisionRequest.Status.APPROVED, DecisionRequest.Status.REJECTED),
        decided_at__gte=now - timedelta(days=days),
    ).values_list("created_at", "decided_at")
    seconds = sorted(max(0.0, (decided - created).total_seconds()) for created, decided in rows)
    counts = [0] * len(LATENCY_BUCKETS)
    for value in seconds:
        for i, (limit, _label) in enumerate(LATENCY_BUCKETS):
            if limit is None or value < limit:
                counts[i] += 1
                break
    p90 = seconds[min(len(seconds) - 1, int(0.9 * len(seconds)))] if seconds else None
    return {
        "labels": [label for _limit, label in LATENCY_BUCKETS],
        "data": counts,
        "answered": len(seconds),
        "median": median(seconds) if seconds else None,
        "p90": p90,
    }


def expiry_rate(*, now: datetime, days: int = 14) -> dict:
    """Per day (by creation): of the escalations that ended, the share that expired unanswered."""
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (
        DecisionRequest.objects.filter(decision=DecisionRequest.Decision.ESCALATE, created_at__gte=start)
        .annotate(day=TruncDate("created_at", tzinfo=UTC), outcome=_outcome(now))
        .values_list("day", "outcome")
        .annotate(n=Count("id"))
    )
    days_list = [(start + timedelta(days=i)).date() for i in range(days)]
    ended = {d: 0 for d in days_list}
    expired = {d: 0 for d in days_list}
    for day, outcome, n in rows:
        if day in ended and outcome in ("approved", "rejected", "expired"):
            ended[day] += n
            if outcome == "expired":
                expired[day] += n
    total_ended, total_expired = sum(ended.values()), sum(expired.values())
    return {
        "labels": [d.strftime("%b %d") for d in days_list],
        "data": [round(100 * expired[d] / ended[d], 1) if ended[d] else None for d in days_list],
        "ended": total_ended,
        "expired": total_expired,
        "rate": round(100 * total_expired / total_ended, 1) if total_ended else None,
    }


def top_violators(*, now: datetime, days: int = 7, limit: int = 10) -> dict:
    rows = (
        DecisionRequest.objects.filter(violation=True, created_at__gte=now - timedelta(days=days))
        .values_list("agent__name")
        .annotate(n=Count("id"))
        .order_by("-n", "agent__name")[:limit]
    )
    return {"labels": [name for name, _n in rows], "data": [n for _name, n in rows]}


def headline(*, now: datetime) -> dict:
    day = DecisionRequest.objects.filter(created_at__gte=now - timedelta(hours=24))
    by_decision = dict(day.values_list("decision").annotate(n=Count("id")))
    return {
        "decisions_24h": sum(by_decision.values()),
        "allowed_24h": by_decision.get("allow", 0),
        "escalated_24h": by_decision.get("escalate", 0),
        "denied_24h": by_decision.get("deny", 0),
        "pending": DecisionRequest.objects.filter(status="pending", expires_at__gt=now).count(),
        "open_anomalies": Anomaly.objects.filter(state=Anomaly.State.OPEN).count(),
        "tripped": Agent.objects.filter(breaker_tripped_at__isnull=False).count(),
        "suspended": Agent.objects.filter(status=Agent.Status.SUSPENDED).count(),
        "agents": Agent.objects.count(),
    }
