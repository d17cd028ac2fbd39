"""Reads for the admin pages: agents with their health, an agent's recent history, anomalies."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, QuerySet

from governance.decide import effective_status
from governance.models import Agent, AgentToken, Anomaly, DecisionRequest, Envelope


def agent_mode(agent: Agent) -> tuple[str, str]:
    """(mode, why): supervised when the breaker tripped or the envelope says so."""
    if agent.breaker_tripped:
        return "supervised", "breaker"
    envelope = agent.active_envelope
    if envelope is not None and (envelope.document or {}).get("mode") == "supervised":
        return "supervised", "envelope"
    return "enforce", ""


@dataclass(frozen=True)
class AgentRow:
    agent: Agent
    mode: str
    mode_why: str
    violations_24h: int
    pending: int


def agents_overview(*, now: datetime) -> list[AgentRow]:
    """Every agent with mode, breaker, last activity, 24 h violations and pending escalations.

    Two grouped counts instead of per-agent subqueries: both hit an index
    (violation rows of the last day; pending rows), so the page stays fast with millions
    of recorded requests.
    """
    agents = list(Agent.objects.select_related("active_envelope").order_by("name"))
    violations = dict(
        DecisionRequest.objects.filter(violation=True, created_at__gte=now - timedelta(hours=24))
        .values_list("agent_id")
        .annotate(n=Count("id"))
    )
    pending = dict(
        DecisionRequest.objects.filter(status=DecisionRequest.Status.PENDING, expires_at__gt=now)
        .values_list("agent_id")
        .annotate(n=Count("id"))
    )
    rows = []
    for agent in agents:
        mode, why = agent_mode(agent)
        rows.append(AgentRow(agent, mode, why, violations.get(agent.pk, 0), pending.get(agent.pk, 0)))
    return rows


@dataclass(frozen=True)
class AgentHistory:
    decisions: list[DecisionRequest]
    escalations: list[DecisionRequest]
    tokens: list[AgentToken]
    versions: list[Envelope]
    violations_24h: int
    open_anomalies: int


def _shown(rows: list[DecisionRequest], now: datetime) -> list[DecisionRequest]:
    """Pending past the deadline reads as expired, whether or not the sweep has run."""
    for row in rows:
        row.shown_status = effective_status(row, now)
    return rows


def agent_history(*, agent: Agent, now: datetime, limit: int = 20) -> AgentHistory:
    requests = DecisionRequest.objects.filter(agent=agent).order_by("-created_at")
    return AgentHistory(
        decisions=_shown(list(requests[:limit]), now),
        escalations=_shown(
            list(requests.filter(decision=DecisionRequest.Decision.ESCALATE).select_related("escalation")[:limit]), now
        ),
        tokens=list(AgentToken.objects.filter(agent=agent).order_by("-created_at")[:10]),
        versions=list(
            Envelope.objects.filter(agent=agent).select_related("created_by").order_by("-version")[:10]
        ),
        violations_24h=requests.filter(violation=True, created_at__gte=now - timedelta(hours=24)).count(),
        open_anomalies=Anomaly.objects.filter(agent=agent, state=Anomaly.State.OPEN).count(),
    )


def anomalies_filtered(*, tag: str = "", state: str = "", agent: str = "") -> QuerySet[Anomaly]:
    rows = Anomaly.objects.select_related("agent", "request", "resolved_by").order_by("-created_at", "-id")
    if tag:
        rows = rows.filter(tag=tag)
    if state:
        rows = rows.filter(state=state)
    if agent:
        rows = rows.filter(agent__name=agent)
    return rows


def anomaly_counts() -> dict[str, int]:
    """Open anomalies per tag, for the filter chips."""
    counts = dict(
        Anomaly.objects.filter(state=Anomaly.State.OPEN).values_list("tag").annotate(n=Count("id"))
    )
    return {tag: counts.get(tag, 0) for tag in Anomaly.Tag.values}
