"""Governance events the layers above react to (the live queue, channels). Always sent after
commit with send_robust, so a failing receiver can never undo or change a decision.

Receivers must be quick: enqueue a Celery task or push to the channel layer, nothing slower.
"""

from django.db import transaction
from django.dispatch import Signal

# kwargs: agent_id, reason — the circuit breaker put an agent in supervised mode
breaker_tripped = Signal()
# kwargs: agent_id, by (username)
breaker_reset = Signal()


def send_after_commit(signal: Signal, **kwargs) -> None:
    """Fire `signal` once the surrounding transaction commits (at once if there is none)."""
    transaction.on_commit(lambda: signal.send_robust(sender=None, **kwargs))


Receivers = list[tuple[Signal, object, str]]


def receivers_connect(receivers: Receivers) -> None:
    """Connect (signal, receiver, dispatch_uid) triples: the one way every app wires its
    receivers, from its AppConfig.ready(). The uid makes connecting twice harmless."""
    for signal, receiver, uid in receivers:
        signal.connect(receiver, dispatch_uid=uid)


def receivers_disconnect(receivers: Receivers) -> None:
    for signal, _receiver, uid in receivers:
        signal.disconnect(dispatch_uid=uid)
