"""Dashboard numbers for outcomes and incidents: actions that failed or were rolled back per
agent, and incidents attributed to an agent action."""

from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef

from governance.knowledge_models import Incident, IncidentContribution
from governance.models import DecisionRequest

BAD_OUTCOMES = ("failed", "rolled_back")


def bad_outcomes_by_agent(*, now: datetime, days: int = 7, limit: int = 10) -> list[dict]:
    """[{agent, failed, rolled_back}] for agents whose actions (of the last `days`) went wrong."""
    rows = (
        DecisionRequest.objects.filter(outcome_status__in=BAD_OUTCOMES, created_at__gte=now - timedelta(days=days))
        .values_list("agent__name", "outcome_status")
        .annotate(n=Count("id"))
    )
    table: dict[str, dict] = {}
    for agent, status, n in rows:
        table.setdefault(agent, {"agent": agent, "failed": 0, "rolled_back": 0})[status] = n
    ranked = sorted(table.values(), key=lambda r: (-(r["failed"] + r["rolled_back"]), r["agent"]))
    return ranked[:limit]


def incident_counts() -> dict:
    attributed = Exists(IncidentContribution.objects.filter(incident=OuterRef("pk")))
    rows = Incident.objects.annotate(attributed=attributed)
    return {"total": rows.count(), "attributed": rows.filter(attributed=True).count()}
