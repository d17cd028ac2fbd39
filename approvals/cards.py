"""Loading queue cards for one person: the selectors' rows, turned into presenters.Card.

The page, the POST responses and the websocket pushes all go through here, so a card looks
the same however it reached the browser, and nobody is shown a card they may not see.
"""

from datetime import datetime

from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone

from approvals.models import Escalation, Vote
from approvals.presenters import Card, card_for
from approvals.selectors import (
    agent_recent_history,
    pending_escalations,
    recent_breaker_trips,
    visible_escalation,
)
from governance.models import Agent, DecisionRequest

PAGE_SIZE = 50
HISTORY_SIZE = 5
# What a history row shows; params for the amount.
HISTORY_FIELDS = ("id", "agent_id", "action", "resource", "params", "status", "created_at", "expires_at")
VOTES = Prefetch("votes", queryset=Vote.objects.select_related("user").order_by("created_at", "pk"))


def _histories(escalations: list[Escalation]) -> dict[int, list[DecisionRequest]]:
    """One query per agent on the page (not per card): each agent's latest requests."""
    wanted = HISTORY_SIZE + len(escalations)  # room to leave out the cards themselves
    return {
        agent_id: list(agent_recent_history(agent_id, min(wanted, HISTORY_SIZE + 50)).only(*HISTORY_FIELDS))
        for agent_id in {e.request.agent_id for e in escalations}
    }


def _cards(user, escalations: list[Escalation], now: datetime) -> list[Card]:
    histories = _histories(escalations)
    return [
        card_for(
            e,
            user=user,
            history=[r for r in histories[e.request.agent_id] if r.pk != e.pk][:HISTORY_SIZE],
            now=now,
        )
        for e in escalations
    ]


def pending_cards(user, *, limit: int = PAGE_SIZE, now: datetime | None = None) -> list[Card]:
    """The person's pending escalations, most urgent (earliest deadline) first."""
    now = now or timezone.now()
    escalations = list(pending_escalations(user, limit=limit, now=now).prefetch_related(VOTES))
    return _cards(user, escalations, now)


def card(user, request_id, *, now: datetime | None = None) -> Card | None:
    """One escalation in any state, if this person may see it; None otherwise."""
    escalation = visible_escalation(user, request_id)
    if escalation is None:
        return None
    prefetch_related_objects([escalation], VOTES)
    return _cards(user, [escalation], now or timezone.now())[0]


def breaker_trips() -> list[Agent]:
    """Agents in supervised mode because their circuit breaker tripped, newest first."""
    return list(recent_breaker_trips())
