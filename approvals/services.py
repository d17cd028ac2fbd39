"""Escalation lifecycle services. Every change is one transaction with its audit event;
notifications go out after commit."""

from datetime import timedelta

from approvals.models import Escalation
from approvals.signals import escalation_opened, send_after_commit
from governance.audit import audit_record
from governance.models import DecisionRequest
from governance.policy import EscalationSpec


def escalation_open(*, request: DecisionRequest, spec: EscalationSpec) -> Escalation:
    """Open the human side of an escalated request. Runs inside the decide transaction."""
    escalation = Escalation.objects.create(
        request=request,
        quorum=spec.quorum,
        approver_groups=list(spec.approvers),
        deadline=request.created_at + timedelta(seconds=spec.ttl_seconds),
    )
    audit_record(
        kind="escalation.opened",
        actor="system:policy",
        agent=request.agent,
        request_id=request.id,
        payload={
            "quorum": spec.quorum,
            "approvers": list(spec.approvers),
            "deadline": escalation.deadline.isoformat(),
        },
    )
    send_after_commit(escalation_opened, request_id=str(request.id))
    return escalation
