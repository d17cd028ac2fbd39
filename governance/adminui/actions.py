"""Admin state changes the UI needs before the stateful-governance services land.

Each is shaped like the service it stands in for (`breaker_reset(*, agent, by)`, ...):
one transaction, a conditional UPDATE settles races, the audit event is written in the
same transaction, and signals fire after commit. When branch `stateful` is merged,
replace the bodies of these five functions with calls to governance.services (the views
import them from here only).
"""

from django.db import transaction
from django.utils import timezone

from approvals.signals import breaker_reset as breaker_reset_signal
from approvals.signals import send_after_commit
from governance.adminui.access import actor
from governance.audit import audit_record
from governance.errors import Conflict, InvalidInput
from governance.models import Agent, Anomaly, AuditEvent


@transaction.atomic
def breaker_reset(*, agent: Agent, by) -> None:
    """Take a tripped agent out of supervised mode."""
    reason = Agent.objects.filter(pk=agent.pk).values_list("breaker_reason", flat=True).first()
    changed = Agent.objects.filter(pk=agent.pk, breaker_tripped_at__isnull=False).update(
        breaker_tripped_at=None, breaker_reason=""
    )
    if not changed:
        raise Conflict(f"the breaker of {agent.name} is not tripped")
    audit_record(kind="breaker.reset", actor=actor(by), agent=agent, payload={"reason_was": reason or ""})
    send_after_commit(breaker_reset_signal, agent_id=agent.pk, by=by.get_username())


def _agent_status(*, agent: Agent, by, to: str, kind: str, reason: str) -> None:
    source = Agent.Status.ACTIVE if to == Agent.Status.SUSPENDED else Agent.Status.SUSPENDED
    changed = Agent.objects.filter(pk=agent.pk, status=source).update(status=to)
    if not changed:
        raise Conflict(f"{agent.name} is already {to}")
    audit_record(kind=kind, actor=actor(by), agent=agent, payload={"status": to, "reason": reason})


@transaction.atomic
def agent_suspend(*, agent: Agent, by, reason: str = "") -> None:
    """Every request of a suspended agent is denied until it is resumed."""
    _agent_status(agent=agent, by=by, to=Agent.Status.SUSPENDED, kind="agent.suspended", reason=reason)


@transaction.atomic
def agent_resume(*, agent: Agent, by, reason: str = "") -> None:
    _agent_status(agent=agent, by=by, to=Agent.Status.ACTIVE, kind="agent.resumed", reason=reason)


@transaction.atomic
def anomaly_retag(*, anomaly: Anomaly, tag: str, by, reason: str = "") -> None:
    """A reviewer's classification replaces the automatic one; the old tag stays in the audit trail."""
    if tag not in Anomaly.Tag.values:
        raise InvalidInput(f"tag must be one of {', '.join(Anomaly.Tag.values)}")
    current = Anomaly.objects.select_for_update().get(pk=anomaly.pk)
    tag_reason = f"re-tagged by {by.get_username()}" + (f": {reason}" if reason else "")
    Anomaly.objects.filter(pk=anomaly.pk).update(tag=tag, tag_reason=tag_reason)
    audit_record(
        kind="anomaly.retagged", actor=actor(by), agent=current.agent, request_id=current.request_id,
        payload={"anomaly": current.pk, "from": current.tag, "to": tag, "reason": reason},
    )


@transaction.atomic
def anomaly_resolve(*, anomaly: Anomaly, note: str, by) -> None:
    """Close an anomaly with a note saying what was found."""
    if not note.strip():
        raise InvalidInput("a note is required to resolve an anomaly")
    changed = Anomaly.objects.filter(pk=anomaly.pk, state=Anomaly.State.OPEN).update(
        state=Anomaly.State.RESOLVED, note=note.strip(), resolved_at=timezone.now(), resolved_by=by
    )
    if not changed:
        raise Conflict("this anomaly is already resolved")
    audit_record(
        kind="anomaly.resolved", actor=actor(by), agent=anomaly.agent, request_id=anomaly.request_id,
        payload={"anomaly": anomaly.pk, "tag": anomaly.tag, "note": note.strip()},
    )


@transaction.atomic
def admin_event(*, kind: str, by, payload: dict) -> AuditEvent:
    """Audit an admin action that changes nothing else (verifying the chain, exporting)."""
    return audit_record(kind=kind, actor=actor(by), payload=payload)
