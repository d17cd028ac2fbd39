"""Governance events the layers above react to (the live queue, channels). Sent through the
transactional outbox (governance/outbox.py): recorded in the transaction that caused them and
delivered after commit by the relay, one receiver at a time, so a failing receiver can never
undo or change a decision.

Receivers must be quick and idempotent (delivery is at least once): enqueue a Celery task or
push to the channel layer, nothing slower. Their kwargs travel as JSON (a datetime arrives as
an ISO string).
"""

from django.dispatch import Signal

from governance.outbox import outbox_events_register, outbox_send

# kwargs: agent_id, reason — the circuit breaker put an agent in supervised mode
breaker_tripped = Signal()
# kwargs: agent_id, by (username)
breaker_reset = Signal()

outbox_events_register(breaker_tripped=breaker_tripped, breaker_reset=breaker_reset)


def send_after_commit(signal: Signal, **kwargs) -> None:
    """Record `signal` in the surrounding transaction's outbox; its receivers run once that
    commits (at once if there is none), in the outbox relay."""
    outbox_send(signal, **kwargs)


Receivers = list[tuple[Signal, object, str]]


def receivers_connect(receivers: Receivers) -> None:
    """Connect (signal, receiver, dispatch_uid) triples: the one way every app wires its
    receivers, from its AppConfig.ready(). The uid makes connecting twice harmless."""
    for signal, receiver, uid in receivers:
        signal.connect(receiver, dispatch_uid=uid)


def receivers_disconnect(receivers: Receivers) -> None:
    for signal, _receiver, uid in receivers:
        signal.disconnect(dispatch_uid=uid)
