"""Extend an escalation's deadline (issue 12): an eligible approver who needs more time pushes
it out, up to the envelope's max_extension in total (default: one escalation_ttl)."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from approvals.eligibility import is_eligible
from approvals.models import Escalation
from approvals.rules import approver_rules
from approvals.services import MAX_COMMENT, PENDING, _locked_escalation
from approvals.signals import escalation_extended, send_after_commit
from governance.actors import audit_actor
from governance.audit import audit_record
from governance.errors import Conflict, InvalidInput, NotEligible
from governance.models import DecisionRequest
from governance.policy.durations import format_duration, parse_duration


def extension_seconds(by) -> int:
    """'10m', '90s', '1h' or a number of seconds; InvalidInput otherwise."""
    if isinstance(by, bool) or not isinstance(by, (str, int)):
        raise InvalidInput('by must be a duration such as "10m", "90s" or "1h"')
    try:
        seconds = parse_duration(by)
    except ValueError as exc:
        raise InvalidInput(f"by: {exc}") from None
    if seconds <= 0:
        raise InvalidInput("by must be longer than zero")
    return seconds


@transaction.atomic
def escalation_extend(*, request_id, user, by, comment: str = "", now: datetime | None = None) -> Escalation:
    """Push a pending escalation's deadline out by `by`. 400 beyond max_extension (in total),
    403 when not eligible, 409 when no longer pending (or already past its deadline)."""
    seconds = extension_seconds(by)
    comment = comment or ""
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"comment longer than {MAX_COMMENT} characters")
    escalation = _locked_escalation(request_id)
    now = now or timezone.now()
    request = escalation.request
    if not is_eligible(user, escalation):
        raise NotEligible("you are not an approver for this escalation")
    if request.status != PENDING or request.expires_at is None or request.expires_at <= now:
        status = request.status if request.status != PENDING else "expired"
        raise Conflict(f"already decided: request is {status}", code="already_decided")
    original = escalation.deadline - timedelta(seconds=escalation.extended_seconds)
    limit = approver_rules(request).max_extension_seconds
    if limit is None:
        limit = int((original - request.created_at).total_seconds())  # one escalation_ttl
    total = escalation.extended_seconds + seconds
    if total > limit:
        left = max(0, limit - escalation.extended_seconds)
        raise InvalidInput(
            f"extensions may add at most {format_duration(limit)} in total; "
            f"{format_duration(left) if left else 'nothing'} left",
            code="extension_too_long",
        )
    deadline = escalation.deadline + timedelta(seconds=seconds)
    updated = DecisionRequest.objects.filter(pk=request.pk, status=PENDING).update(expires_at=deadline)
    if updated != 1:  # cannot happen while the row lock holds
        raise Conflict("already decided", code="already_decided")
    Escalation.objects.filter(pk=escalation.pk).update(deadline=deadline, extended_seconds=total)
    audit_record(
        kind="escalation.extended", actor=audit_actor(user), agent=request.agent, request_id=request.id, at=now,
        payload={"by_seconds": seconds, "deadline": deadline.isoformat(), "previous_deadline": escalation.deadline.isoformat(),
                 "extended_seconds": total, "max_extension_seconds": limit, "comment": comment},
    )
    send_after_commit(escalation_extended, request_id=str(request.pk))
    escalation.refresh_from_db()
    return escalation
