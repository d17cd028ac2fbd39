"""Durable delivery state for side effects (an outbox): agent callbacks and Slack message updates.

A Celery message alone is not enough: Redis may lose it, or a worker may die holding it. So
every state change that must reach the outside world also writes a Delivery row. The change's
transaction writes its event to the transactional outbox (governance/outbox.py), and the relay
delivering that event runs `deliveries_record` first (approvals.receivers.record_deliveries),
before any task is enqueued; until then the outbox row is what keeps the event. Then:
- the event's other receivers enqueue the task (the fast path);
- each attempt calls `delivery_begin` (counts the attempt and pushes `next_attempt_at` forward
  by the backoff, so a crash mid-attempt is retried by the sweep after that backoff);
- success calls `delivery_done`, failure `delivery_failed` (which gives up, logged, after
  the last attempt);
- `deliveries_sweep` (beat, every few seconds) re-enqueues every undelivered row whose
  `next_attempt_at` has passed.
Tasks are idempotent (a callback resends the same body, receivers dedupe by id; a Slack sync
renders the current state), so a duplicate from the broker or the sweep is harmless.

Which deliveries a signal implies, and how the sweep re-sends one, is registered per kind
(outbox_register): approvals registers the agent callback, each channel registers its own
(integrations/slack/apps.py). This module names no channel.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from approvals.models import Delivery
from governance.models import DecisionRequest

logger = logging.getLogger("airlock.deliveries")

# kwargs: channel (the delivery kind: "callback", "slack", ...), request_id, detail — a delivery
# was given up on after its last attempt. Sent at once, in the process that gave up; ops counts it.
notification_failed = Signal()

BACKOFF_CAP = 600  # seconds


def delivery_backoff(attempts: int) -> int:
    """Seconds the sweep waits after attempt number `attempts` started: doubling, capped."""
    return min(settings.AIRLOCK_DELIVERY_RESEND_AFTER * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


@dataclass(frozen=True)
class Outbox:
    """One kind of delivery: the signals that imply it, whether it is on, whether a request
    needs it, and how to (re-)send it (enqueue the task for a request id)."""

    kind: str
    signals: tuple
    send: Callable[[str], object]
    enabled: Callable[[], bool] = lambda: True
    wanted: Callable[[str], bool] = lambda request_id: True


_outboxes: dict[str, Outbox] = {}


def outbox_register(outbox: Outbox) -> None:
    """Called from an AppConfig.ready(): approvals for callbacks, each channel for itself."""
    _outboxes[outbox.kind] = outbox


def deliveries_record(signal, **kwargs) -> None:
    """Write the Delivery rows a signal implies. Called inside the state change's transaction."""
    request_id = kwargs.get("request_id")
    if request_id is None:
        return
    for outbox in _outboxes.values():
        if signal in outbox.signals and outbox.enabled() and outbox.wanted(request_id):
            delivery_record(outbox.kind, request_id)


def delivery_record(kind: str, request_id) -> None:
    """Something new to deliver for (kind, request): create the row, or reopen it with the next
    generation (a Slack message that must show a newer state)."""
    now = timezone.now()
    due = now + timedelta(seconds=settings.AIRLOCK_DELIVERY_RESEND_AFTER)
    reopen = {"generation": F("generation") + 1, "attempts": 0, "next_attempt_at": due,
              "delivered_at": None, "gave_up_at": None, "last_error": ""}
    if Delivery.objects.filter(kind=kind, request_id=request_id).update(**reopen):
        return
    try:
        with transaction.atomic():
            Delivery.objects.create(kind=kind, request_id=request_id, next_attempt_at=due)
    except IntegrityError:  # created concurrently
        Delivery.objects.filter(kind=kind, request_id=request_id).update(**reopen)


def delivery_begin(kind: str, request_id) -> Delivery | None:
    """Start one attempt. Returns the row (attempts counted, the sweep's next look pushed back
    by the backoff), or None when there is nothing left to do (delivered or given up)."""
    with transaction.atomic():
        row = Delivery.objects.select_for_update().filter(kind=kind, request_id=request_id).first()
        if row is None:
            # A task for a change recorded before deliveries existed: track it from now on.
            if not DecisionRequest.objects.filter(pk=request_id).exists():
                return None
            delivery_record(kind, request_id)
            row = Delivery.objects.select_for_update().get(kind=kind, request_id=request_id)
        if row.delivered_at is not None or row.gave_up_at is not None:
            return None
        row.attempts += 1
        row.next_attempt_at = timezone.now() + timedelta(seconds=delivery_backoff(row.attempts))
        row.save(update_fields=["attempts", "next_attempt_at"])
        return row


def delivery_done(row: Delivery, detail: str = "") -> bool:
    """Mark delivered, unless a newer change reopened the row meanwhile (then it stays due)."""
    return bool(
        Delivery.objects.filter(pk=row.pk, generation=row.generation, delivered_at__isnull=True)
        .update(delivered_at=timezone.now(), last_error=detail[:500])
    )


def delivery_failed(row: Delivery, error: str, *, give_up: bool, retry_in: float | None = None) -> None:
    """Record a failed attempt. `give_up` ends it (logged); `retry_in` sets when the sweep may
    try again (default: the backoff set by delivery_begin)."""
    fields = {"last_error": error[:500]}
    if give_up:
        fields["gave_up_at"] = timezone.now()
        logger.error("%s delivery for %s given up after %d attempt(s): %s",
                     row.kind, row.request_id, row.attempts, error)
        notification_failed.send_robust(sender=None, channel=row.kind, request_id=str(row.request_id), detail=error)
    elif retry_in is not None:
        fields["next_attempt_at"] = timezone.now() + timedelta(seconds=retry_in)
    Delivery.objects.filter(pk=row.pk, generation=row.generation).update(**fields)


def deliveries_due(now=None, limit: int = 200) -> list[Delivery]:
    now = now or timezone.now()
    return list(
        Delivery.objects.filter(delivered_at__isnull=True, gave_up_at__isnull=True, next_attempt_at__lte=now)
        .order_by("next_attempt_at")[:limit]
    )


def deliveries_sweep(now=None) -> int:
    """Re-enqueue every delivery that is due. Returns how many were re-sent."""
    now = now or timezone.now()
    sent = 0
    for row in deliveries_due(now):
        # Claim it for one backoff so the next tick does not enqueue it again.
        claimed = Delivery.objects.filter(
            pk=row.pk, generation=row.generation, delivered_at__isnull=True, next_attempt_at=row.next_attempt_at
        ).update(next_attempt_at=now + timedelta(seconds=delivery_backoff(row.attempts + 1)))
        if not claimed:
            continue
        outbox = _outboxes.get(row.kind)
        if outbox is None or not outbox.enabled():
            continue
        logger.warning("re-sending %s for %s (attempts so far %d, last error: %s)",
                       row.kind, row.request_id, row.attempts, row.last_error or "none recorded")
        try:
            outbox.send(str(row.request_id))
        except Exception:  # broker down: the row stays due (its claim expires), try next tick
            logger.exception("could not enqueue %s for %s", row.kind, row.request_id)
            continue
        sent += 1
    return sent
