"""Escalation events other parts react to (live queue, channels, agent callbacks, long-polls).
Recorded in the transaction's outbox and delivered after commit by the relay
(send_after_commit below, governance/outbox.py), so a failing receiver can never undo or
change a decision.

Receivers must be quick and idempotent: enqueue a Celery task or push to the channel layer,
nothing slower. Their kwargs arrive as JSON (a datetime as an ISO string).
"""

from django.dispatch import Signal

from governance.outbox import outbox_events_register
from governance.signals import send_after_commit as governance_send_after_commit

__all__ = [
    "escalation_extended", "escalation_opened", "escalation_reminder", "escalation_resolved", "escalation_tier_reached",
    "send_after_commit", "vote_recorded",
]

# kwargs: request_id (uuid str)
escalation_opened = Signal()
# kwargs: request_id, vote_id — a vote counted but quorum not yet reached
vote_recorded = Signal()
# kwargs: request_id, status ("approved" | "rejected" | "expired")
escalation_resolved = Signal()
# kwargs: request_id — an approver pushed the deadline out (new expires_at)
escalation_extended = Signal()
# kwargs: request_id, tier (1-based), groups (list of names) — a tier's groups became eligible
escalation_tier_reached = Signal()
# kwargs: request_id, deadline (ISO) — the escalation nears its deadline (approvals/routing.py)
escalation_reminder = Signal()

outbox_events_register(
    escalation_opened=escalation_opened, vote_recorded=vote_recorded, escalation_resolved=escalation_resolved,
    escalation_extended=escalation_extended, escalation_tier_reached=escalation_tier_reached,
    escalation_reminder=escalation_reminder,
)


def send_after_commit(signal: Signal, **kwargs) -> None:
    """Record `signal` in the transaction's outbox (delivered after commit by the relay).
    The relay's first receiver (approvals.receivers.record_deliveries) writes the Delivery rows
    of the side effects it implies (callback, channel updates) before any task is enqueued, so
    a lost task is re-sent by the sweep (approvals/deliveries.py); the outbox row itself is
    what makes the event durable until then."""
    governance_send_after_commit(signal, **kwargs)
