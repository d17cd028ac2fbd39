"""Celery tasks. Thin: load by id, call the service."""

import logging
from datetime import datetime

from celery import shared_task
from django.utils import timezone

from approvals.callbacks import CallbackFailed, callback_backoff, callback_deliver, callback_record
from approvals.deliveries import deliveries_sweep, delivery_begin, delivery_done, delivery_failed
from approvals.models import Delivery, Escalation
from approvals.services import escalation_expire, escalation_expire_due
from governance.errors import NotFound

logger = logging.getLogger("airlock.tasks")


@shared_task(name="approvals.expire_escalation", bind=True)
def expire_escalation(self, request_id: str) -> bool:
    """Scheduled with eta=deadline when the escalation opens."""
    try:
        expired = escalation_expire(request_id=request_id)
    except NotFound:
        logger.warning("expire_escalation: no escalation %s", request_id)
        return False
    if not expired and not self.request.is_eager:
        # Delivered early (clock skew between hosts): try again at the deadline. Eager runs
        # (tests) ignore the ETA, so rescheduling there would only recurse; the sweep covers it.
        deadline = (
            Escalation.objects.filter(pk=request_id, request__status="pending", resolved_at__isnull=True)
            .values_list("deadline", flat=True)
            .first()
        )
        if deadline is not None and deadline > timezone.now():
            schedule_expiry(request_id, deadline)
    return expired


def schedule_expiry(request_id: str, deadline: datetime) -> bool:
    """An ETA task at the deadline, but only when it is near: Redis redelivers any message held
    longer than the visibility timeout, so a far deadline is left to the beat sweep (every 2 s)."""
    from django.conf import settings

    if (deadline - timezone.now()).total_seconds() > settings.AIRLOCK_CELERY_MAX_ETA:
        return False
    expire_escalation.apply_async(args=[str(request_id)], eta=deadline)
    return True


@shared_task(name="approvals.expire_due_escalations")
def expire_due_escalations() -> int:
    """The beat sweep: the safety net for lost or late ETA tasks (e.g. a worker was down)."""
    count = escalation_expire_due()
    if count:
        logger.info("sweep expired %d escalation(s)", count)
    return count


@shared_task(name="approvals.routing_sweep")
def routing_sweep() -> int:
    """The beat sweep for tiers and reminders (approvals/routing.py)."""
    from approvals.routing import routing_due

    count = routing_due()
    if count:
        logger.info("routing sweep sent %d tier/reminder notice(s)", count)
    return count


@shared_task(name="approvals.send_callback", bind=True, max_retries=None)
def send_callback(self, request_id: str) -> None:
    """POST the resolved request to the agent. Idempotent: the Delivery row says whether it got
    through. Short backoffs retry in Celery; longer ones (beyond AIRLOCK_CELERY_MAX_ETA) are left
    to the deliveries sweep, as is anything a crashed worker was sending."""
    from django.conf import settings

    row = delivery_begin(Delivery.CALLBACK, request_id)
    if row is None:
        return  # already delivered, given up, or no such request
    attempt = row.attempts
    try:
        status = callback_deliver(request_id=request_id)
    except NotFound:
        logger.warning("send_callback: no request %s", request_id)
        return
    except CallbackFailed as exc:
        if attempt > settings.AIRLOCK_CALLBACK_RETRIES:
            logger.error("callback for %s failed %d times, giving up: %s", request_id, attempt, exc)
            delivery_failed(row, str(exc), give_up=True)
            callback_record(request_id=request_id, delivered=False, attempts=attempt, detail=str(exc))
            return
        countdown = callback_backoff(attempt - 1)
        deferred = countdown > settings.AIRLOCK_CELERY_MAX_ETA
        # Retried in Celery: the sweep steps in only if that retry is lost (one resend later).
        retry_in = countdown if deferred else countdown + settings.AIRLOCK_DELIVERY_RESEND_AFTER
        delivery_failed(row, str(exc), give_up=False, retry_in=retry_in)
        if deferred:
            logger.warning("callback for %s failed (attempt %d): %s; the sweep re-sends in %ds",
                           request_id, attempt, exc, countdown)
            return
        logger.warning("callback for %s failed (attempt %d): %s", request_id, attempt, exc)
        raise self.retry(countdown=countdown, exc=exc) from None
    delivery_done(row, f"HTTP {status}" if status is not None else "nothing to send")
    if status is not None:
        callback_record(request_id=request_id, delivered=True, attempts=attempt, detail=f"HTTP {status}")


@shared_task(name="approvals.deliveries_sweep")
def sweep_deliveries() -> int:
    """The beat sweep for callbacks and Slack updates that never got through."""
    count = deliveries_sweep()
    if count:
        logger.info("sweep re-sent %d delivery(ies)", count)
    return count
