"""Slack failing never changes a decision: errors, timeouts and 429s are retried by Celery with
backoff (never sooner than Retry-After), and the message catches up when Slack returns."""

import threading

import pytest
from celery.signals import task_retry
from django.conf import settings as django_settings
from django.db import connection

from airlock.celery import app as celery_app
from approvals.models import Delivery
from approvals.services import approval_decide
from governance.models import AuditEvent, DecisionRequest
from integrations.slack import sync, tasks
from integrations.slack.client import SlackFailure
from integrations.slack.models import SlackMessage
from tests.integrations.slack.conftest import buttons, escalate, texts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def retries():
    """Every Celery retry of a Slack task: (task name, countdown in seconds, cause)."""
    seen = []

    def record(sender=None, request=None, reason=None, **kwargs):
        seen.append((sender.name, reason.when, reason.exc))

    task_retry.connect(record, weak=False)
    yield seen
    task_retry.disconnect(record)


def test_429_is_retried_no_sooner_than_retry_after(slack, procurement, retries):
    slack.fail("chat.postMessage", status=429, retry_after=7)

    request_id = escalate(procurement)

    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 200]
    assert len(retries) == 1
    name, countdown, cause = retries[0]
    assert name == "approvals.slack.escalation_sync"
    assert countdown >= 7
    assert isinstance(cause, SlackFailure) and cause.error == "ratelimited" and cause.retry_after == 7
    assert SlackMessage.objects.get(pk=request_id).ts == slack.only_message().ts


def test_500_is_retried_with_growing_backoff(slack, procurement, retries):
    slack.fail("chat.postMessage", status=500, html=True, times=3)

    escalate(procurement)

    assert [c.status for c in slack.calls_to("chat.postMessage")] == [500, 500, 500, 200]
    countdowns = [when for _, when, _ in retries]
    assert len(countdowns) == 3
    # 2 s doubling, ±20 % jitter: each bound is strictly above the previous one's upper bound.
    for attempt, countdown in enumerate(countdowns):
        assert 0.8 * 2 * 2**attempt <= countdown <= 1.2 * 2 * 2**attempt
    assert len(slack.messages) == 1


def test_slack_error_code_is_retried(slack, procurement, retries):
    slack.fail("chat.postMessage", status=200, error="internal_error")  # ok: false, HTTP 200

    escalate(procurement)

    assert retries[0][2].error == "internal_error"
    assert len(slack.messages) == 1


def test_timeout_is_retried(slack, settings, procurement, retries):
    settings.SLACK_TIMEOUT = 1
    slack.fail("chat.postMessage", delay=1.5)

    escalate(procurement)

    assert retries[0][2].error == "connection"
    assert len(slack.messages) == 1


def test_update_is_retried_until_slack_answers(slack, procurement, people, retries):
    request_id = escalate(procurement)
    slack.fail("chat.update", status=503, times=3)

    outcome = approval_decide(request_id=request_id, user=people["alice"], choice="approve", via="web")

    assert outcome.status == "approved"  # decided before Slack was even called
    assert [c.status for c in slack.calls_to("chat.update")] == [503, 503, 503, 200]
    assert buttons(slack.only_message().blocks) == []
    assert "*Approved* by alice (web)" in texts(slack.only_message().blocks)


def test_post_that_never_succeeded_is_replaced_by_the_final_state(slack, procurement, people, retries):
    """Slack down for the whole escalation: Celery retries while the backoff is short, then the
    opening post is left to the deliveries sweep (the row stays due); the decision is made on
    the web regardless; the next sync after Slack returns posts the final state, no buttons."""
    slack.down = True
    request_id = escalate(procurement)
    assert len(slack.calls_to("chat.postMessage")) == len(retries) + 1  # all failed
    assert all(countdown <= django_settings.AIRLOCK_CELERY_MAX_ETA for _, countdown, _ in retries)
    row = Delivery.objects.get(kind="slack", request_id=request_id)
    assert row.delivered_at is None and row.gave_up_at is None and row.attempts == len(retries) + 1
    assert slack.messages == {}

    outcome = approval_decide(request_id=request_id, user=people["alice"], choice="approve", via="web")
    assert outcome.status == "approved"
    assert DecisionRequest.objects.get(pk=request_id).status == "approved"

    slack.down = False
    tasks.slack_escalation_sync.delay(request_id)  # the next retry, once Slack is back

    message = slack.only_message()
    assert buttons(message.blocks) == []
    assert "*Approved* by alice (web)" in texts(message.blocks)
    assert SlackMessage.objects.get(pk=request_id).ts == message.ts
    assert AuditEvent.objects.filter(request_id=request_id, kind="escalation.approved").count() == 1
    row = Delivery.objects.get(kind="slack", request_id=request_id)
    assert row.delivered_at is not None


def test_bad_token_never_blocks_the_decision(slack, settings, procurement, people):
    settings.SLACK_BOT_TOKEN = "xoxb-revoked"
    request_id = escalate(procurement)

    outcome = approval_decide(request_id=request_id, user=people["bob"], choice="deny", via="web")

    assert outcome.status == "rejected"
    assert slack.messages == {}
    assert {c.status for c in slack.calls} == {200}  # Slack answered ok: false, invalid_auth


def test_message_deleted_in_slack_is_not_resurrected(slack, procurement, people):
    request_id = escalate(procurement)
    slack.messages.clear()  # someone deleted it in Slack

    approval_decide(request_id=request_id, user=people["alice"], choice="approve", via="web")

    assert len(slack.calls_to("chat.update")) == 1  # message_not_found: not retried
    assert slack.calls_to("chat.postMessage")[1:] == []
    assert DecisionRequest.objects.get(pk=request_id).status == "approved"


def test_two_syncs_at_once_post_one_message(slack, procurement, settings, redis_url):
    """Two workers sync the same unposted escalation at the same moment (e.g. the opening post
    and a vote's update during a slow Slack): the Redis post lock lets one post; the other
    waits, sees the stored ts and updates that message instead of posting a second one."""
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the escalation opens without posting
    try:
        request_id = escalate(procurement)
    finally:
        celery_app.control.purge()
    slack.latency["chat.postMessage"] = 0.5
    barrier = threading.Barrier(2)
    results = []

    def run():
        try:
            barrier.wait()
            results.append(sync.escalation_message_sync(request_id=request_id))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert sorted(results) == ["posted", "updated"]
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert len(slack.messages) == 1
    assert SlackMessage.objects.get(pk=request_id).ts == slack.only_message().ts


def test_the_sweep_resends_an_update_that_never_got_through_and_gives_up_in_the_end(slack, procurement, people):
    """The task for a change is lost (or Slack kept failing): the Delivery row stays due and
    the beat sweep syncs it; after the last attempt it gives up (logged) instead of looping."""
    from datetime import timedelta

    from django.utils import timezone

    from approvals.deliveries import deliveries_sweep

    request_id = escalate(procurement)
    Delivery.objects.filter(kind="slack", request_id=request_id).update(delivered_at=None)  # as if lost
    assert deliveries_sweep(timezone.now()) == 0  # not due yet: an attempt may still be running
    slack.down = True
    assert deliveries_sweep(timezone.now() + timedelta(hours=1)) == 1
    row = Delivery.objects.get(kind="slack", request_id=request_id)
    assert row.delivered_at is None and row.last_error
    slack.down = False
    assert deliveries_sweep(timezone.now() + timedelta(hours=2)) == 1
    row.refresh_from_db()
    assert row.delivered_at is not None and row.gave_up_at is None
    assert deliveries_sweep(timezone.now() + timedelta(hours=3)) == 0  # delivered: nothing to do

    Delivery.objects.filter(pk=row.pk).update(delivered_at=None, attempts=tasks.MAX_RETRIES + 1)
    slack.down = True
    assert deliveries_sweep(timezone.now() + timedelta(hours=4)) == 1
    row.refresh_from_db()
    assert row.gave_up_at is not None and row.delivered_at is None
    assert deliveries_sweep(timezone.now() + timedelta(days=1)) == 0  # given up: never again
