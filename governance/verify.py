"""Downstream verification: is exactly this action allowed or approved, now?"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record
from governance.canonical import action_digest
from governance.decide import effective_status
from governance.models import Agent, DecisionRequest


@dataclass(frozen=True)
class Verdict:
    valid: bool
    status: str
    reason: str


@transaction.atomic
def request_verify(*, agent: Agent, request_id, action: str, resource: str, params: dict) -> Verdict:
    """Consume a single-use allow/approval if the action matches its digest exactly."""
    row = DecisionRequest.objects.filter(pk=request_id, agent=agent).first()
    if row is None:
        return Verdict(False, "unknown", "no such request for this agent")
    status = effective_status(row)
    if action_digest(action, resource, params) != row.digest:
        verdict = Verdict(False, status, "digest_mismatch: this is not the action that was decided")
    elif status not in ("allowed", "approved"):
        verdict = Verdict(False, status, f"not allowed: request is {status}")
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
