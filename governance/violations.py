"""What happens when an agent asks for something its envelope forbids: the request is
captured as an anomaly for later triage, and the circuit breaker counts it."""

from django.utils import timezone

from governance.models import Agent, Anomaly, DecisionRequest


def violation_record(*, request: DecisionRequest, agent: Agent) -> Anomaly:
    """Capture a violation with its full context. Runs in the decide transaction."""
    reason = request.reasons[0] if request.reasons else {}
    return Anomaly.objects.create(
        request=request,
        agent=agent,
        code=reason.get("code", "violation"),
        details={
            "action": request.action,
            "resource": request.resource,
            "params": request.params,
            "context": request.context,
            "reasons": request.reasons,
            "envelope_version": request.envelope_version,
            "agent_mode": request.agent_mode,
        },
        created_at=request.created_at or timezone.now(),
    )
