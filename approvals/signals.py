"""Escalation events other parts react to (live queue, channels, agent callbacks, long-polls).
Always sent after commit with send_robust (send_after_commit below), so a failing receiver can
never undo or change a decision.

Receivers must be quick: enqueue a Celery task or push to the channel layer, nothing slower.
"""

from django.dispatch import Signal

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


def send_after_commit(signal: Signal, **kwargs) -> None:
    """Fire `signal` once the surrounding transaction commits (at once if there is none).
    The side effects it implies (callback, channel updates) are first recorded as Delivery rows
    in this same transaction, so a lost task is re-sent by the sweep (approvals/deliveries.py)."""
    from approvals.deliveries import deliveries_record

    deliveries_record(signal, **kwargs)
    governance_send_after_commit(signal, **kwargs)
