"""Downstream verification: is exactly this action allowed or approved, now?

Valid only when all of these hold (checked under the agent's lock, governance/locks.py):
- the action matches the decided digest exactly, and the request is allowed or approved;
- the agent is not suspended (a suspended agent's earlier allows and approvals are void);
- an automatic allow was not made before the agent's circuit breaker tripped (while it is
  tripped, and also after a reset: the breaker found the agent's automatic answers unreliable
  from that point back). A request a person approved stays valid: approval is a human's
  judgement of exactly this action, which the breaker does not call into question.
- it has not been used before (single use).
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record
from governance.canonical import action_digest
from governance.decide import effective_status
from governance.locks import lock_agent
from governance.models import Agent, DecisionRequest


@dataclass(frozen=True)
class Verdict:
    valid: bool
    status: str
    reason: str


def _revoked(agent: Agent, row: DecisionRequest) -> str | None:
    """Why an allowed/approved request no longer holds because of the agent's state, or None."""
    if agent.status == Agent.Status.SUSPENDED:
        return f"agent_suspended: agent {agent.name} is suspended"
    if row.status == DecisionRequest.Status.ALLOWED:
        tripped = agent.breaker_tripped_at or agent.breaker_reset_at
        if tripped is not None and row.created_at <= tripped:
            return "breaker_tripped: automatic allow made before the agent's circuit breaker tripped"
    return None


@transaction.atomic
def request_verify(*, agent: Agent, request_id, action: str, resource: str, params: dict) -> Verdict:
    """Consume a single-use allow/approval if the action matches its digest exactly."""
    # The agent first (lock order), re-read: suspension or a trip committed before counts.
    agent = lock_agent(agent.pk)
    row = DecisionRequest.objects.filter(pk=request_id, agent=agent).first()
    if row is None:
        return Verdict(False, "unknown", "no such request for this agent")
    status = effective_status(row)
    # Approved with edits: exactly the approved params hold, the asked ones no longer do.
    if action_digest(action, resource, params) != (row.approved_digest or row.digest):
        verdict = Verdict(False, status, "digest_mismatch: this is not the action that was decided")
    elif status not in ("allowed", "approved"):
        verdict = Verdict(False, status, f"not allowed: request is {status}")
    elif revoked := _revoked(agent, row):
        verdict = Verdict(False, status, revoked)
    else:
        # Single use, settled by the database: only one caller can flip used_at.
        used = DecisionRequest.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=timezone.now())
        verdict = Verdict(True, status, "ok") if used else Verdict(False, status, "already_used: approvals are single-use")
    audit_record(
        kind="request.verified",
        actor=f"agent:{agent.name}",
        agent=agent,
        request_id=row.id,
        payload={"valid": verdict.valid, "reason": verdict.reason},
    )
    return verdict
