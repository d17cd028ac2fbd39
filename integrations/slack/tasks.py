"""Celery tasks: every Slack API call Airlock makes happens here, after commit, retried with
backoff. A task failing, or Slack being down for hours, never touches a decision."""

import logging
import random

import redis
from celery import shared_task
from django.conf import settings
from django.db import transaction

from integrations.slack import client, sync
from integrations.slack.client import Click, SlackFailure
from integrations.slack.interactions import click_decide, person_by_email, person_by_slack_id

logger = logging.getLogger("airlock.slack")

# The kind of this channel's Delivery rows (approvals/deliveries.py; registered in apps.py).
DELIVERY_KIND = "slack"

# 2 s doubling to a 5-minute cap: 20 retries span a little over an hour of Slack outage.
BACKOFF_BASE, BACKOFF_CAP, MAX_RETRIES = 2.0, 300.0, 20
RETRYABLE = (SlackFailure, sync.SlackBusy, redis.RedisError)


def retry_delay(exc: Exception, retries: int) -> float:
    """Exponential backoff with jitter, and never sooner than Slack's Retry-After."""
    backoff = min(BACKOFF_CAP, BACKOFF_BASE * 2**retries) * random.uniform(0.8, 1.2)
    retry_after = getattr(exc, "retry_after", None)
    return max(backoff, retry_after) if retry_after is not None else backoff


def _retry(task, exc: Exception):
    # Never a countdown the broker would redeliver early (visibility timeout): cap it.
    delay = min(retry_delay(exc, task.request.retries), settings.AIRLOCK_CELERY_MAX_ETA)
    logger.warning("%s failed (%s); retry %d in %.1fs", task.name, exc, task.request.retries + 1, delay)
    return task.retry(exc=exc, countdown=delay)


# Task names keep their first spelling (approvals.slack.*): messages already queued under
# them when the code moved must still find their task.
@shared_task(bind=True, name="approvals.slack.escalation_sync", max_retries=MAX_RETRIES, ignore_result=True)
def slack_escalation_sync(self, request_id: str) -> str:
    """Post the escalation's message, or update it in place to its current state. The Delivery
    row (approvals/deliveries.py) says whether Slack shows the latest state; short backoffs retry
    in Celery, longer ones (and anything a crashed worker held) are left to the deliveries sweep;
    after MAX_RETRIES + 1 attempts it gives up (logged) until the escalation changes again."""
    if not settings.SLACK_ENABLED:
        return "disabled"
    from approvals.deliveries import delivery_begin, delivery_done, delivery_failed

    row = delivery_begin(DELIVERY_KIND, request_id)
    if row is None:
        # Nothing owed (already shown, or given up): a sync is idempotent, so an explicit or
        # duplicate run still renders the current state, with plain capped retries.
        try:
            return sync.escalation_message_sync(request_id=request_id)
        except RETRYABLE as exc:
            raise _retry(self, exc) from None
    try:
        result = sync.escalation_message_sync(request_id=request_id)
    except RETRYABLE as exc:
        if row.attempts > MAX_RETRIES:
            delivery_failed(row, str(exc), give_up=True)
            return "gave_up"
        delay = retry_delay(exc, row.attempts - 1)
        deferred = delay > settings.AIRLOCK_CELERY_MAX_ETA
        # Retried in Celery: the sweep steps in only if that retry is lost (one resend later).
        retry_in = delay if deferred else delay + settings.AIRLOCK_DELIVERY_RESEND_AFTER
        delivery_failed(row, str(exc), give_up=False, retry_in=retry_in)
        if deferred:
            logger.warning("%s for %s failed (%s); the sweep re-sends in %.0fs", self.name, request_id, exc, delay)
            return "deferred"
        logger.warning("%s for %s failed (%s); retry in %.1fs", self.name, request_id, exc, delay)
        raise self.retry(exc=exc, countdown=delay) from None
    delivery_done(row, result)
    return result


@shared_task(bind=True, name="approvals.slack.breaker_post", max_retries=MAX_RETRIES, ignore_result=True)
def slack_breaker_post(self, agent_id: int, reason: str) -> str:
    """Announce a circuit-breaker trip in the agent's channel."""
    if not settings.SLACK_ENABLED:
        return "disabled"
    try:
        return sync.breaker_message_post(agent_id=agent_id, reason=reason)
    except SlackFailure as exc:
        raise _retry(self, exc) from None


@shared_task(bind=True, name="integrations.slack.notice_post", max_retries=MAX_RETRIES, ignore_result=True)
def slack_notice_post(self, request_id: str, kind: str, groups: list | None = None, tier: int | None = None) -> str:
    """A tier opened or the deadline is near: a reply in the escalation's thread."""
    if not settings.SLACK_ENABLED:
        return "disabled"
    from integrations.slack.notices import notice_post

    try:
        return notice_post(request_id=request_id, kind=kind, groups=groups, tier=tier)
    except SlackFailure as exc:
        raise _retry(self, exc) from None


# An ephemeral answers a click; after a few minutes it would only confuse.
@shared_task(bind=True, name="approvals.slack.ephemeral_post", max_retries=4, ignore_result=True)
def slack_ephemeral_post(self, channel: str, user: str, text: str) -> str:
    """A message only one Slack user sees (a refused or late click)."""
    if not settings.SLACK_ENABLED or not channel:
        return "disabled"
    try:
        client.ephemeral_post(channel=channel, user=user, text=text)
    except SlackFailure as exc:
        raise _retry(self, exc) from None
    return "posted"


@shared_task(bind=True, name="approvals.slack.click_resolve", max_retries=4, ignore_result=True)
def slack_click_resolve(self, click: dict) -> str:
    """A click by a Slack user with no linked id: look up their email (users.info), then
    decide as them. Only the lookup is retried; the decision runs once."""
    if not settings.SLACK_ENABLED:
        return "disabled"
    parsed = Click(**click)
    try:
        email = client.user_email(parsed.slack_user_id)
    except SlackFailure as exc:
        raise _retry(self, exc) from None
    label, refusal = click_decide(parsed, person_by_email(email))
    if refusal is not None:
        refuse(parsed, refusal)
    return label


def refuse(click: Click, text: str) -> None:
    """Tell only the clicker, in Slack, after commit."""
    payload = {"channel": click.channel_id, "user": click.slack_user_id, "text": text}
    transaction.on_commit(lambda: slack_ephemeral_post.delay(**payload))


def click_handle(click: Click) -> str:
    """Called by the interactivity view. A Slack id linked in Airlock is decided at once (one
    short transaction); otherwise the email lookup needs users.info, so a worker does it."""
    user = person_by_slack_id(click.slack_user_id)
    if user is None:
        slack_click_resolve.delay(click.as_dict())
        return "queued"
    label, refusal = click_decide(click, user)
    if refusal is not None:
        refuse(click, refusal)
    return label
