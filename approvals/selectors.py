"""Reads for the approvers' queue. Writes live in services.py."""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from approvals.eligibility import is_person
from approvals.models import Delegation, Escalation, EscalationGroup, EscalationStep, Vote
from governance.models import Agent, DecisionRequest


def _visible_to(queryset: QuerySet, user) -> QuerySet:
    """Only escalations this person may answer (staff and superusers: all; agents: none)."""
    if not is_person(user):
        return queryset.none()
    if user.is_staff or user.is_superuser:
        return queryset
    # A delegate sees what the people they stand in for see (approvals/eligibility.py); all
    # subqueries, so the page stays one query.
    now = timezone.now()
    absent = Delegation.objects.filter(
        delegate=user, until__gt=now, cleared_at__isnull=True, user__is_active=True
    ).values("user")
    staff_absent = get_user_model().objects.filter(pk__in=absent).filter(Q(is_staff=True) | Q(is_superuser=True))
    groups = Group.objects.filter(Q(user=user) | Q(user__in=absent)).values("name")
    return queryset.filter(
        Exists(staff_absent)
        | Exists(EscalationGroup.objects.filter(escalation=OuterRef("pk"), name__in=groups))
        # Tiers whose time has come (approvals/routing.py).
        | Exists(EscalationStep.objects.filter(
            escalation=OuterRef("pk"), kind=EscalationStep.Kind.TIER, due_at__lte=now, group__in=groups
        ))
    )


def _with_progress(queryset: QuerySet, user) -> QuerySet:
    user_id = user.pk if is_person(user) else None
    return queryset.select_related("request", "request__agent").annotate(
        # A correlated count, not Count() over a join: no GROUP BY over every pending row, so
        # the database can stop at `limit` (10,000 pending: ~0.5 s → a few ms on SQLite).
        approvals=Coalesce(
            Subquery(
                Vote.objects.filter(escalation=OuterRef("pk"), choice=Vote.Choice.APPROVE)
                .order_by()
                .values("escalation")
                .annotate(n=Count("pk"))
                .values("n")[:1]
            ),
            0,
        ),
        my_vote=Subquery(Vote.objects.filter(escalation=OuterRef("pk"), user_id=user_id).values("choice")[:1]),
    )


def pending_escalations(user, *, limit: int = 50, now: datetime | None = None) -> QuerySet:
    """Pending escalations this person may answer, most urgent (earliest deadline) first.

    Each row carries `.request` and `.request.agent` (no extra queries), `.approvals` (approve
    votes so far) and `.my_vote` ("approve", "deny" or None for this user).
    """
    now = now or timezone.now()
    # The request's expires_at is the escalation's deadline (both set by decide); filtering and
    # ordering on it walks the (status, expires_at) index and stops at `limit`, so the first
    # page costs the same with 10 or 10,000 pending.
    queryset = Escalation.objects.filter(
        request__status=DecisionRequest.Status.PENDING, request__expires_at__gt=now, deadline__gt=now
    )
    return _with_progress(_visible_to(queryset, user), user).order_by("request__expires_at", "pk")[:limit]


def visible_escalation(user, request_id) -> Escalation | None:
    """One escalation in any state, if this person may see it (for live updates of one row)."""
    queryset = _visible_to(Escalation.objects.filter(pk=request_id), user)
    return _with_progress(queryset, user).first()


def agent_recent_history(agent: Agent | int, limit: int = 10, *, exclude=None) -> QuerySet:
    """The agent's latest requests, newest first (optionally leaving out the one on screen)."""
    queryset = DecisionRequest.objects.filter(agent=agent)
    if exclude is not None:
        queryset = queryset.exclude(pk=exclude)
    return queryset.only(
        "id", "agent_id", "action", "resource", "decision", "status", "created_at", "decided_at", "expires_at"
    ).order_by("-created_at")[:limit]


def recent_breaker_trips(limit: int = 20) -> QuerySet:
    """Agents whose circuit breaker is tripped (supervised until an admin resets it), newest first."""
    return Agent.objects.filter(breaker_tripped_at__isnull=False).order_by("-breaker_tripped_at")[:limit]
