"""Loading queue cards for one person: the selectors' rows, turned into presenters.Card.

The page, the POST responses and the websocket pushes all go through here, so a card looks
the same however it reached the browser, and nobody is ever shown a card they may not see.
"""

from datetime import datetime

from django.db.models import Prefetch
from django.utils import timezone

from approvals.models import Escalation, Vote
from approvals.presenters import Card, card_for
from governance.models import Agent, DecisionRequest

PAGE_SIZE = 50
HISTORY_SIZE = 5


def _is_person(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def _eligible(user, escalation: Escalation) -> bool:
    if not _is_person(user):
        return False
    if user.is_staff or user.is_superuser:
        return True
    return bool(set(escalation.approver_groups) & set(user.groups.values_list("name", flat=True)))


def _base():
    return Escalation.objects.select_related("request", "request__agent").prefetch_related(
        Prefetch("votes", queryset=Vote.objects.select_related("user"))
    )


def _history(agent_id: int, exclude) -> list[DecisionRequest]:
    return list(
        DecisionRequest.objects.filter(agent_id=agent_id).exclude(pk=exclude).order_by("-created_at")[:HISTORY_SIZE]
    )


def pending_cards(user, *, limit: int = PAGE_SIZE, now: datetime | None = None) -> list[Card]:
    """The person's pending escalations, most urgent (earliest deadline) first."""
    now = now or timezone.now()
    if not _is_person(user):
        return []
    rows = [
        e
        for e in _base().filter(request__status=DecisionRequest.Status.PENDING, deadline__gt=now).order_by("deadline", "pk")
        if _eligible(user, e)
    ][:limit]
    return [card_for(e, user=user, history=_history(e.request.agent_id, e.pk), now=now) for e in rows]


def card(user, request_id, *, now: datetime | None = None) -> Card | None:
    """One escalation in any state, if this person may see it; None otherwise."""
    escalation = _base().filter(pk=request_id).first()
    if escalation is None or not _eligible(user, escalation):
        return None
    return card_for(escalation, user=user, history=_history(escalation.request.agent_id, escalation.pk), now=now)


def breaker_trips() -> list[Agent]:
    """Agents in supervised mode because their circuit breaker tripped, newest first."""
    return list(Agent.objects.filter(breaker_tripped_at__isnull=False).order_by("-breaker_tripped_at")[:20])
