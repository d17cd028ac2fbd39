"""Celery tasks. Thin: load by id, call the service."""

import logging
from datetime import datetime

from celery import shared_task
from django.utils import timezone

from approvals.callbacks import CallbackFailed, callback_backoff, callback_deliver, callback_record
from approvals.models import Escalation
from approvals.services import escalation_expire, escalation_expire_due
from approvals.signals import notification_failed
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


def schedule_expiry(request_id: str, deadline: datetime) -> None:
    expire_escalation.apply_async(args=[str(request_id)], eta=deadline)


@shared_task(name="approvals.expire_due_escalations")
def expire_due_escalations() -> int:
    """The beat sweep: the safety net for lost or late ETA tasks (e.g. a worker was down)."""
    count = escalation_expire_due()
    if count:
        logger.info("sweep expired %d escalation(s)", count)
    return count


@shared_task(name="approvals.send_callback", bind=True, max_retries=None)
def send_callback(self, request_id: str) -> None:
    """POST the resolved request to the agent; exponential backoff on failure."""
    from django.conf import settings

    attempt = self.request.retries + 1
    try:
        status = callback_deliver(request_id=request_id)
    except NotFound:
        logger.warning("send_callback: no request %s", request_id)
        return
    except CallbackFailed as exc:
        if attempt > settings.AIRLOCK_CALLBACK_RETRIES:
            logger.error("callback for %s failed %d times, giving up: %s", request_id, attempt, exc)
            callback_record(request_id=request_id, delivered=False, attempts=attempt, detail=str(exc))
            notification_failed.send_robust(sender=None, channel="callback", request_id=request_id, detail=str(exc))
            return
        logger.warning("callback for %s failed (attempt %d): %s", request_id, attempt, exc)
        raise self.retry(countdown=callback_backoff(self.request.retries), exc=exc) from None
    if status is not None:
        callback_record(request_id=request_id, delivered=True, attempts=attempt, detail=f"HTTP {status}")
