"""Escalation lifecycle services. Every change is one transaction with its audit event;
notifications go out after commit.

Web clicks, Slack clicks, the approver API and expiry all go through these functions. Races
are settled by locking the agent and then the escalation row, in the one lock order of
governance/locks.py (on SQLite the IMMEDIATE transaction takes the write lock at BEGIN), and
by a conditional UPDATE on the request that must change exactly one row.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from approvals import vote_checks
from approvals.eligibility import eligibility, not_eligible_message, vote_label, votes_by
from approvals.models import Escalation, EscalationGroup, EscalationStep, Vote
from approvals.routing import routing_steps
from approvals.signals import (
    escalation_opened,
    escalation_resolved,
    send_after_commit,
    vote_recorded,
)
from governance.actors import audit_actor
from governance.audit import audit_record
from governance.canonical import action_digest
from governance.errors import Conflict, InvalidInput, NotEligible, NotFound
from governance.locks import lock_agent, lock_escalation
from governance.models import DecisionRequest
from governance.outbox import outbox_insert, outbox_written
from governance.policy import EscalationSpec
from governance.rows import Rider, insert

PENDING = DecisionRequest.Status.PENDING
CHOICES = ("approve", "deny")
# Which interface or channel a vote came through ("web", "api", "slack", ...): a short name
# the caller gives, never a list here, so a new channel needs no edit to this module.
VIA = re.compile(r"[a-z][a-z0-9_-]{0,15}")
MAX_COMMENT = 2000


@dataclass(frozen=True)
class Outcome:
    """What one vote did: the request as it now stands, and the quorum progress."""

    request: DecisionRequest
    vote: Vote
    resolved: bool
    status: str
    approvals_count: int
    quorum: int


def escalation_open(*, request: DecisionRequest, spec: EscalationSpec) -> Escalation:
    """Open the human side of an escalated request. Runs inside the decide transaction."""
    escalation = Escalation(
        request=request,
        quorum=spec.quorum,
        approver_groups=list(spec.approvers),
        deadline=request.created_at + timedelta(seconds=spec.ttl_seconds),
    )
    groups = list(dict.fromkeys(spec.approvers))
    steps = routing_steps(escalation=escalation, spec=spec)
    # The deadline travels with the event: the expiry receiver need not read it back.
    event = {"request_id": str(request.id), "deadline": escalation.deadline}
    rider = None
    if connection.vendor == "postgresql" and settings.AIRLOCK_OUTBOX != "off":
        rider = _escalation_rider(escalation, groups, steps, event)
    else:
        insert(escalation)  # one prepared INSERT (governance/rows.py), as the request row itself
        EscalationGroup.objects.bulk_create([EscalationGroup(escalation=escalation, name=name) for name in groups])
        EscalationStep.objects.bulk_create(steps)
        send_after_commit(escalation_opened, **event)
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
        riders=(rider,) if rider is not None else (),
    )
    if rider is not None:
        escalation._state.adding = False
        escalation._state.db = connection.alias
        outbox_written(rider.value)
    return escalation


def _escalation_rider(escalation: Escalation, groups: list[str], steps: list[EscalationStep], event: dict) -> Rider:
    """The escalation, its group rows, its routing steps and its outbox event as writes that
    ride on the statement appending "escalation.opened" (PostgreSQL: data-modifying CTEs):
    one round trip on the decide path instead of five. Its value is the outbox row's id."""
    escalation.created_at = timezone.now()
    outbox_sql, outbox_params = outbox_insert(escalation_opened, **event)
    ctes = (
        "e AS (INSERT INTO approvals_escalation"
        " (request_id, quorum, approver_groups, deadline, created_at, resolved_at, extended_seconds)"
        " VALUES (%s, %s, %s::jsonb, %s, %s, NULL, 0) RETURNING request_id),"
        " g AS (INSERT INTO approvals_escalationgroup (escalation_id, name)"
        " SELECT e.request_id, n FROM e, unnest(%s::varchar[]) AS n),"
        ' s AS (INSERT INTO approvals_escalationstep (escalation_id, kind, position, "group", due_at, sent_at)'
        " SELECT e.request_id, t.k, t.p, t.g, t.d, NULL FROM e,"
        " unnest(%s::varchar[], %s::int[], %s::varchar[], %s::timestamptz[]) AS t(k, p, g, d)),"
        f" o AS ({outbox_sql})"
    )
    params = [
        escalation.request_id, escalation.quorum, json.dumps(escalation.approver_groups), escalation.deadline,
        escalation.created_at, groups,
        [step.kind for step in steps], [step.position for step in steps], [step.group for step in steps],
        [step.due_at for step in steps], *outbox_params,
    ]
    return Rider(ctes, params, "(SELECT id FROM o)")


def _locked_escalation(request_id) -> Escalation:
    """Lock the request's agent, then the escalation row (governance/locks.py: agent ->
    escalation -> audit chain head, the order decide takes them in), then read the request.
    The read must come after the lock, in its own query: a row joined to a SELECT ... FOR
    UPDATE keeps the version the statement saw before waiting for the lock (PostgreSQL READ
    COMMITTED), i.e. a stale "pending"."""
    try:
        # A request never changes agent: reading its agent_id unlocked is safe.
        agent_id = DecisionRequest.objects.filter(pk=request_id).values_list("agent_id", flat=True).first()
        if agent_id is None:
            raise NotFound("no such escalation")
        lock_agent(agent_id)
        escalation = lock_escalation(request_id)
    except (Escalation.DoesNotExist, ValidationError, ValueError):
        raise NotFound("no such escalation") from None
    escalation.request = DecisionRequest.objects.select_related("agent").get(pk=escalation.pk)
    return escalation


class _PastDeadline(Exception):
    """Raised inside the vote transaction so it rolls back before the expiry is persisted."""


def approval_decide(
    *, request_id, user, choice: str, comment: str = "", via: str = "web", now: datetime | None = None,
    params: dict | None = None,
) -> Outcome:
    """Record one eligible person's vote: any deny rejects at once, quorum approvals approve.

    Raises NotFound (404), NotEligible (403: not in one of the approver groups; staff and
    superusers are eligible for all; agents never), Conflict (409) with code "already_decided"
    when the request is no longer pending (including past its deadline) or "already_voted"
    when this person has voted before.

    `params` approves with edits (vote_checks.edited_params). The envelope's approver rules
    apply on every channel (vote_checks.vote_rules_check: 400 comment_required, 403 web_only).
    """
    if choice not in CHOICES:
        raise InvalidInput(f"choice must be one of {', '.join(CHOICES)}")
    if not isinstance(via, str) or not VIA.fullmatch(via):
        raise InvalidInput("via must be a channel name: lowercase letters, digits, - or _, at most 16")
    comment = comment or ""
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"comment longer than {MAX_COMMENT} characters")
    try:
        return _vote(request_id, user, choice, comment, via, now, params)
    except _PastDeadline:
        # Persist the expiry now rather than waiting for the sweep; the voter lost either way.
        escalation_expire(request_id=request_id, now=now)
        raise Conflict("already decided: request is expired", code="already_decided") from None


def _joined_comment(votes: list[Vote]) -> str:
    said = [v for v in votes if v.comment]
    if len(votes) == 1:
        return votes[0].comment
    return "\n".join(f"{vote_label(v)}: {v.comment}" for v in said)


@transaction.atomic
def _vote(request_id, user, choice: str, comment: str, via: str, now: datetime | None, params=None) -> Outcome:
    escalation = _locked_escalation(request_id)
    now = now or timezone.now()  # read after the lock: a waiter votes at the time it gets in
    request = escalation.request
    allowed = eligibility(user, escalation, now)
    if not allowed:
        raise NotEligible(not_eligible_message(user, escalation, now))
    if request.status != PENDING:
        raise Conflict(f"already decided: request is {request.status}", code="already_decided")
    if request.expires_at is not None and request.expires_at <= now:
        raise _PastDeadline
    # A delegate's vote counts as the absent person's: neither may then vote again.
    if votes_by(escalation, [user, allowed.on_behalf_of]).exists():
        raise Conflict("already voted: a person counts once", code="already_voted")
    vote_checks.vote_rules_check(request, comment=comment, via=via)
    edit = vote_checks.edited_params(request, choice=choice, params=params)
    if choice == Vote.Choice.APPROVE:
        vote_checks.same_params_check(escalation, edit)

    vote = Vote.objects.create(
        escalation=escalation, user=user, choice=choice, comment=comment, via=via, params=edit,
        on_behalf_of=allowed.on_behalf_of,
    )
    approvals = list(
        escalation.votes.filter(choice=Vote.Choice.APPROVE).select_related("user", "on_behalf_of")
        .order_by("created_at", "id")
    )
    actor = audit_actor(user)
    audit_record(
        kind="escalation.vote", actor=actor, agent=request.agent, request_id=request.id, at=now,
        payload={"choice": choice, "via": via, "comment": comment,
                 "approvals": len(approvals), "quorum": escalation.quorum,
                 **({"params": edit} if edit is not None else {}),
                 **({"on_behalf_of": allowed.on_behalf_of.get_username()} if allowed.on_behalf_of else {})},
    )
    if choice == Vote.Choice.DENY:
        status, decided_by, final_comment = DecisionRequest.Status.REJECTED, [vote_label(vote)], comment
    elif len(approvals) >= escalation.quorum:
        status = DecisionRequest.Status.APPROVED
        decided_by = [vote_label(v) for v in approvals]
        final_comment = _joined_comment(approvals)
    else:
        status = PENDING

    if status != PENDING:
        # Approved with edits (every approval carries the same edit: same_params_check).
        approved = approvals[0].params if status == DecisionRequest.Status.APPROVED else None
        edits = {"approved_params": approved, "approved_digest": action_digest(request.action, request.resource, approved)} if approved is not None else {}
        updated = DecisionRequest.objects.filter(pk=request.pk, status=PENDING).update(
            status=status, decided_at=now, decided_by=decided_by, comment=final_comment, **edits
        )
        if updated != 1:  # cannot happen while the row lock holds; never overwrite an outcome
            raise Conflict("already decided", code="already_decided")
        Escalation.objects.filter(pk=escalation.pk).update(resolved_at=now)
        audit_record(
            kind=f"escalation.{status}", actor=actor, agent=request.agent, request_id=request.id, at=now,
            payload={"decided_by": decided_by, "via": via, "comment": final_comment,
                     "approvals": len(approvals), "quorum": escalation.quorum, **edits},
        )
        send_after_commit(escalation_resolved, request_id=str(request.pk), status=status)
    else:
        send_after_commit(vote_recorded, request_id=str(request.pk), vote_id=vote.pk)
    request.refresh_from_db()
    return Outcome(
        request=request, vote=vote, resolved=status != PENDING, status=status,
        approvals_count=len(approvals), quorum=escalation.quorum,
    )


@transaction.atomic
def escalation_expire(*, request_id, now: datetime | None = None) -> bool:
    """Persist the expiry (= deny) of a pending escalation past its deadline. Idempotent:
    returns False when it is already terminal or not yet due."""
    escalation = _locked_escalation(request_id)
    now = now or timezone.now()
    request = escalation.request
    if request.status != PENDING or request.expires_at is None or request.expires_at > now:
        return False
    # decided_at is the deadline: the API has reported "expired" since that moment.
    updated = DecisionRequest.objects.filter(pk=request.pk, status=PENDING).update(
        status=DecisionRequest.Status.EXPIRED, decided_at=request.expires_at
    )
    if updated != 1:
        return False
    Escalation.objects.filter(pk=escalation.pk).update(resolved_at=now)
    audit_record(
        kind="escalation.expired", actor="system:expiry", agent=request.agent, request_id=request.id, at=now,
        payload={"deadline": request.expires_at.isoformat(),
                 "late_by_ms": int((now - request.expires_at).total_seconds() * 1000)},
    )
    send_after_commit(escalation_resolved, request_id=str(request.pk), status=DecisionRequest.Status.EXPIRED)
    return True


def escalation_expire_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """The sweep: expire every pending escalation past its deadline, each in its own transaction."""
    now = now or timezone.now()
    due = list(
        DecisionRequest.objects.filter(status=PENDING, expires_at__lte=now, escalation__isnull=False)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(escalation_expire(request_id=pk, now=now) for pk in due)
