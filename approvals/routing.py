"""Routing: escalation tiers, deadline reminders and delegation ("away until").

- Tiers: `tiers: [{after: 5m, approvers: [oncall-sre]}]` in the envelope or a capability. When
  an escalation opens, each tier's groups are written as EscalationStep rows due at
  `request time + after`; eligibility (approvals/eligibility.py) counts them from that moment,
  and the routing sweep (a Celery beat task, every 2 s) sends `escalation_tier_reached` once
  per tier so every channel notifies the newcomers. The deadline never moves.
- Reminders: one per escalation, due when the time left falls to AIRLOCK_REMINDER_BEFORE
  (default 3 minutes), or at half-time for escalations shorter than twice that; the sweep
  sends `escalation_reminder` and every channel reminds the approvers who have not voted.
- Delegation: one active delegation per person, which ends by itself at `until` (eligibility
  stops then; the sweep records and audits the end as approver.delegation_ended).

Each state change is one transaction with its audit event; signals go out after commit.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from approvals.models import Delegation, Escalation, EscalationStep
from approvals.signals import escalation_reminder, escalation_tier_reached, send_after_commit
from governance.audit import audit_record
from governance.errors import InvalidInput
from governance.locks import lock_agent
from governance.models import DecisionRequest
from governance.policy import EscalationSpec

logger = logging.getLogger("airlock.routing")

MAX_DELEGATION = timedelta(days=366)


def reminder_due(created_at: datetime, deadline: datetime) -> datetime | None:
    """When to remind: AIRLOCK_REMINDER_BEFORE before the deadline, or at half-time when the
    escalation is shorter than twice that. None when reminders are off (0)."""
    before = settings.AIRLOCK_REMINDER_BEFORE
    if before <= 0:
        return None
    ttl = (deadline - created_at).total_seconds()
    return deadline - timedelta(seconds=min(before, ttl / 2))


def routing_steps(*, escalation: Escalation, spec: EscalationSpec) -> list[EscalationStep]:
    """The tiers and the reminder of a new escalation, unsaved (escalation_open writes them
    inside the decide transaction)."""
    start = escalation.request.created_at
    steps = [
        EscalationStep(escalation=escalation, kind=EscalationStep.Kind.TIER, position=i, group=group,
                       due_at=start + timedelta(seconds=after))
        for i, (after, groups) in enumerate(getattr(spec, "tiers", ()) or (), start=1)
        for group in groups
    ]
    remind_at = reminder_due(start, escalation.deadline)
    if remind_at is not None:
        steps.append(EscalationStep(escalation=escalation, kind=EscalationStep.Kind.REMINDER, due_at=remind_at))
    return steps


def tiers_of(escalation: Escalation) -> list[dict]:
    """[{tier, groups, opens_at}] for display (the escalation page, emails)."""
    out: dict[int, dict] = {}
    for step in EscalationStep.objects.filter(escalation=escalation, kind=EscalationStep.Kind.TIER).order_by("position", "id"):
        out.setdefault(step.position, {"tier": step.position, "groups": [], "opens_at": step.due_at})["groups"].append(step.group)
    return list(out.values())


@transaction.atomic
def _step_send(escalation_id, kind: str, position: int, now: datetime) -> bool:
    """Mark one due step sent and announce it, once: lock the agent, then claim the rows with a
    conditional UPDATE (a second sweep finds nothing left to claim)."""
    agent_id = DecisionRequest.objects.filter(pk=escalation_id).values_list("agent_id", flat=True).first()
    if agent_id is None:
        return False
    agent = lock_agent(agent_id)
    request = DecisionRequest.objects.only("id", "status", "expires_at").get(pk=escalation_id)
    if request.status != DecisionRequest.Status.PENDING or (request.expires_at and request.expires_at <= now):
        # Nothing to say about a decided or expired escalation; drop the steps quietly.
        EscalationStep.objects.filter(escalation_id=escalation_id, sent_at__isnull=True).update(sent_at=now)
        return False
    rows = EscalationStep.objects.filter(
        escalation_id=escalation_id, kind=kind, position=position, sent_at__isnull=True, due_at__lte=now
    )
    groups = list(rows.values_list("group", flat=True))
    if not rows.update(sent_at=now):
        return False
    deadline = request.expires_at.isoformat() if request.expires_at else ""
    if kind == EscalationStep.Kind.TIER:
        audit_record(kind="escalation.tier_opened", actor="system:routing", agent=agent, request_id=escalation_id,
                     at=now, payload={"tier": position, "groups": groups, "deadline": deadline})
        send_after_commit(escalation_tier_reached, request_id=str(escalation_id), tier=position, groups=groups)
    else:
        audit_record(kind="escalation.reminded", actor="system:routing", agent=agent, request_id=escalation_id,
                     at=now, payload={"deadline": deadline})
        send_after_commit(escalation_reminder, request_id=str(escalation_id), deadline=deadline)
    return True


def routing_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """The sweep: open every tier and send every reminder that is due, each in its own transaction."""
    now = now or timezone.now()
    due = (
        EscalationStep.objects.filter(sent_at__isnull=True, due_at__lte=now)
        .order_by("due_at")
        .values_list("escalation_id", "kind", "position")
        .distinct()[:limit]
    )
    sent = 0
    try:
        delegations_end_due(now=now)
    except Exception:  # never let the audit of an ended delegation stop tiers and reminders
        logger.exception("ending due delegations failed")
    for escalation_id, kind, position in list(dict.fromkeys(due)):
        try:
            sent += _step_send(escalation_id, kind, position, now)
        except Exception:  # one bad row must not stop the sweep; it is retried next time
            logger.exception("routing step failed", extra={"request_id": str(escalation_id), "kind": kind})
    return sent


@transaction.atomic
def delegations_end_due(*, now: datetime | None = None) -> int:
    """Delegations whose `until` passed end by themselves (eligibility already stopped at
    `until`); this records the end (cleared_at = until) and audits it, once."""
    now = now or timezone.now()
    ended = 0
    for row in Delegation.objects.select_related("user", "delegate").filter(until__lte=now, cleared_at__isnull=True)[:200]:
        if Delegation.objects.filter(pk=row.pk, cleared_at__isnull=True).update(cleared_at=row.until):
            audit_record(kind="approver.delegation_ended", actor="system:routing", at=now, payload={
                "username": row.user.get_username(), "delegate": row.delegate.get_username(),
                "until": row.until.isoformat(),
            })
            ended += 1
    return ended


def _person(username: str, role: str):
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        raise InvalidInput(f"no user {username!r}")
    if not user.is_active:
        raise InvalidInput(f"{role} {username} is not active")
    return user


@transaction.atomic
def delegation_set(*, user, delegate, until: datetime, by: str, now: datetime | None = None) -> Delegation:
    """From now until `until`, `delegate` answers wherever `user` may. Replaces any active one."""
    now = now or timezone.now()
    if isinstance(user, str):
        user = _person(user, "person")
    if isinstance(delegate, str):
        delegate = _person(delegate, "delegate")
    if not delegate.is_active:
        raise InvalidInput(f"delegate {delegate.get_username()} is not active")
    if delegate.pk == user.pk:
        raise InvalidInput("a person cannot delegate to themselves")
    if timezone.is_naive(until):
        raise InvalidInput("until needs a time zone, e.g. 2026-12-24T18:00:00Z")
    if until <= now:
        raise InvalidInput("until must be in the future")
    if until - now > MAX_DELEGATION:
        raise InvalidInput("a delegation lasts at most a year")
    if Delegation.objects.filter(user=delegate, until__gt=now, cleared_at__isnull=True, delegate=user).exists():
        raise InvalidInput(f"{delegate.get_username()} has delegated to {user.get_username()}: no loops")
    Delegation.objects.filter(user=user, cleared_at__isnull=True, until__gt=now).update(cleared_at=now)
    row = Delegation.objects.create(user=user, delegate=delegate, until=until)
    audit_record(kind="approver.delegated", actor=by, at=now, payload={
        "username": user.get_username(), "delegate": delegate.get_username(), "until": until.isoformat(),
    })
    return row


@transaction.atomic
def delegation_clear(*, user, by: str, now: datetime | None = None) -> int:
    """End this person's active delegation now (it also ends by itself at `until`)."""
    now = now or timezone.now()
    if isinstance(user, str):
        user = _person(user, "person")
    cleared = Delegation.objects.filter(user=user, cleared_at__isnull=True, until__gt=now).update(cleared_at=now)
    audit_record(kind="approver.delegation_cleared", actor=by, at=now,
                 payload={"username": user.get_username(), "cleared": cleared})
    return cleared


def delegation_active(user, now: datetime | None = None) -> Delegation | None:
    """This person's delegation in force at `now`, if any."""
    now = now or timezone.now()
    return (
        Delegation.objects.select_related("delegate")
        .filter(user=user, until__gt=now, cleared_at__isnull=True)
        .order_by("-created_at")
        .first()
    )
