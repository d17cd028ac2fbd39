"""Events other parts react to (live queue, Slack, agent callbacks). Always sent after commit
with send_robust, so a failing receiver can never undo or change a decision.

Receivers must be quick: enqueue a Celery task or push to the channel layer, nothing slower.
"""

from django.db import transaction
from django.dispatch import Signal

# kwargs: request_id (uuid str)
escalation_opened = Signal()
# kwargs: request_id, vote_id — a vote counted but quorum not yet reached
vote_recorded = Signal()
# kwargs: request_id, status ("approved" | "rejected" | "expired")
escalation_resolved = Signal()
# kwargs: agent_id, reason — the circuit breaker put an agent in supervised mode
breaker_tripped = Signal()
# kwargs: agent_id, by (username)
breaker_reset = Signal()


def send_after_commit(signal: Signal, **kwargs) -> None:
    """Fire `signal` once the surrounding transaction commits (at once if there is none).
    The side effects it implies (callback, Slack update) are first recorded as Delivery rows in
    this same transaction, so a lost task is re-sent by the sweep (approvals/deliveries.py)."""
    from approvals.deliveries import deliveries_record

    deliveries_record(signal, **kwargs)
    transaction.on_commit(lambda: signal.send_robust(sender=None, **kwargs))
