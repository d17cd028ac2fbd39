"""The real broker path: receivers enqueue to Redis, a real Celery worker (in a thread of this
process, so it shares the test database) runs the Slack tasks with real countdowns."""

import pytest
from celery.contrib.testing.worker import start_worker

from airlock.celery import app as celery_app
from approvals.services import approval_decide
from governance.models import DecisionRequest
from governance.outbox import relay_stop
from integrations.slack import tasks
from integrations.slack.models import SlackMessage
from tests.integrations.slack.conftest import buttons, escalate, texts

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(redis_url, slack, settings, monkeypatch):
    """A Celery worker on this run's queue. Backoff shortened so an outage test takes seconds
    (the Retry-After floor is untouched)."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(tasks, "BACKOFF_BASE", 0.2)
    monkeypatch.setattr(tasks, "BACKOFF_CAP", 1.0)
    celery_app.control.purge()
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10):
        yield
    relay_stop()  # the solo pool started this process's outbox relay; the test controller never stops it
    celery_app.control.purge()


def test_worker_posts_and_waits_out_retry_after(worker, slack, procurement):
    slack.fail("chat.postMessage", status=429, retry_after=1)

    request_id = escalate(procurement)
    slack.wait_for(lambda: SlackMessage.objects.filter(pk=request_id).exists(), what="the message ts stored")

    first, second = slack.calls_to("chat.postMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0  # Slack said wait a second; the worker did
    assert SlackMessage.objects.get(pk=request_id).ts == slack.only_message().ts


def test_slack_outage_during_an_escalation(worker, slack, procurement, people):
    """Slack is down from the start. The web decision is made at once; when Slack returns the
    one message shows the final state, and no second message is ever posted."""
    slack.down = True
    request_id = escalate(procurement)
    slack.wait_for(lambda: len(slack.calls_to("chat.postMessage")) >= 2, what="failed post attempts")

    outcome = approval_decide(request_id=request_id, user=people["alice"], choice="approve", via="web")
    assert outcome.status == "approved"
    assert DecisionRequest.objects.get(pk=request_id).status == "approved"
    assert slack.messages == {}

    slack.down = False
    # One retry chain posts the final state (the opening one may have been left to the
    # deliveries sweep after its short Celery retries), or another updates it: either way.
    slack.wait_for(
        lambda: "*Approved* by alice (web)" in "".join(texts(m.blocks) for m in list(slack.messages.values())),
        what="the message showing the outcome after recovery",
    )

    message = slack.only_message()
    assert buttons(message.blocks) == []
    assert "*Approved* by alice (web)" in texts(message.blocks)
    assert len(slack.calls_to("chat.postMessage", ok_only=True)) == 1
    # The worker saves the message's ts right after Slack answers the post: wait for that
    # commit rather than racing it.
    slack.wait_for(
        lambda: SlackMessage.objects.filter(pk=request_id, ts=message.ts).exists(),
        what="the message reference saved with Slack's ts",
    )
