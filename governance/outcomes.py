"""Outcome reporting: after acting, the agent says what happened. Once per request, only for
a request that was allowed or approved, only by the agent that asked."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record
from governance.errors import Conflict, InvalidInput, NotFound
from governance.locks import lock_agent
from governance.models import Agent, DecisionRequest

OUTCOME_STATUSES = ("succeeded", "failed", "rolled_back")
EXECUTABLE = (DecisionRequest.Status.ALLOWED, DecisionRequest.Status.APPROVED)
MAX_DETAIL = 10_000


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@transaction.atomic
def outcome_report(*, agent: Agent, request_id, status: str, detail: str = "", effects: dict | None = None,
                   now: datetime | None = None) -> DecisionRequest:
    """Record the outcome of the agent's own request. NotFound for another agent's request,
    Conflict not_executable / outcome_exists, InvalidInput for a bad status."""
    if status not in OUTCOME_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(OUTCOME_STATUSES)}", code="invalid_request")
    if not isinstance(detail, str) or len(detail) > MAX_DETAIL:
        raise InvalidInput(f"detail must be a string of at most {MAX_DETAIL} characters", code="invalid_request")
    if effects is None:
        effects = {}
    if not isinstance(effects, dict):
        raise InvalidInput("effects must be a JSON object", code="invalid_request")
    now = now or timezone.now()
    # Lock order: the agent's row (its requests are written only under it), then the chain head.
    agent = lock_agent(agent.pk)
    row = DecisionRequest.objects.filter(pk=request_id, agent=agent).first()
    if row is None:
        raise NotFound("no such request")
    if row.status not in EXECUTABLE:
        raise Conflict(f"the request was {row.status}, not allowed or approved: there is nothing to report",
                       code="not_executable")
    outcome = {"status": status, "detail": detail, "effects": effects, "reported_at": _iso(now)}
    changed = DecisionRequest.objects.filter(pk=row.pk, outcome_status="").update(reported_outcome=outcome, outcome_status=status)
    if changed != 1:
        raise Conflict("an outcome was already reported for this request", code="outcome_exists")
    audit_record(
        kind=f"outcome.{status}", actor=f"agent:{agent.name}", agent=agent, request_id=row.id, at=now,
        payload={"action": row.action, "resource": row.resource, "status": status, "detail": detail, "effects": effects},
    )
    row.reported_outcome, row.outcome_status = outcome, status
    return row
