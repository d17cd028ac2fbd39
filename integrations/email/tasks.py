"""Celery tasks: every email Airlock sends goes out here, after commit, retried with backoff.
A mail server being down never touches a decision."""

import logging
import random
import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import get_connection
from django.db import IntegrityError, transaction

from approvals.models import Escalation
from governance.models import DecisionRequest
from integrations.email.mail import message_build, recipients
from integrations.email.models import EmailSent, VoteLink

logger = logging.getLogger("airlock.email")

MAX_RETRIES = 8
RETRYABLE = (smtplib.SMTPException, OSError)


@shared_task(bind=True, name="integrations.email.notify", max_retries=MAX_RETRIES, ignore_result=True)
def email_notify(self, request_id: str, reason: str, groups: list[str] | None = None) -> int:
    """Mail every recipient of `reason` who was not mailed for it yet. Idempotent: each message
    is claimed (an EmailSent row) before it is sent and unclaimed if sending fails, so a retry
    mails only those still owed."""
    if not settings.EMAIL_ENABLED:
        return 0
    escalation = Escalation.objects.select_related("request__agent").filter(pk=request_id).first()
    if escalation is None or escalation.request.status != DecisionRequest.Status.PENDING:
        return 0
    sent = 0
    connection = get_connection(timeout=settings.EMAIL_TIMEOUT)
    tier = None
    if reason == EmailSent.Reason.TIER:
        tier = escalation.steps.filter(kind="tier", group__in=groups or []).values_list("position", flat=True).first()
    for user in recipients(escalation, reason, groups):
        try:
            with transaction.atomic():
                claim = EmailSent.objects.create(escalation=escalation, user=user, reason=reason, address=user.email)
        except IntegrityError:
            continue  # mailed by an earlier run of this task
        try:
            with transaction.atomic():
                message = message_build(escalation=escalation, user=user, reason=reason, tier=tier)
            message.connection = connection
            message.send()
        except RETRYABLE as exc:
            # Unclaim (and drop the links nobody will see), then retry the whole task later.
            with transaction.atomic():
                VoteLink.objects.filter(escalation=escalation, user=user, used_at__isnull=True,
                                        created_at__gte=claim.sent_at).delete()
                claim.delete()
            delay = min(settings.AIRLOCK_CELERY_MAX_ETA, 2 ** self.request.retries * random.uniform(1.6, 2.4))
            logger.warning("email to %s about %s failed (%s); retry in %.0fs", user.get_username(), request_id, exc, delay)
            raise self.retry(exc=exc, countdown=delay) from None
        sent += 1
    if sent:
        logger.info("mailed %d approver(s) about %s (%s)", sent, request_id, reason)
    return sent
