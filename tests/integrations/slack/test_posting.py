"""Escalations are posted to Slack after commit, by a Celery task, as Block Kit with buttons."""

import re

import pytest
from django.apps import apps
from django.test import Client

from approvals import signals
from approvals.models import Escalation
from governance.models import AuditEvent, DecisionRequest
from integrations.slack import receivers
from integrations.slack.models import SlackMessage
from integrations.slack.tasks import slack_escalation_sync
from tests.integrations.slack.conftest import BIG_ORDER, buttons, escalate, texts

pytestmark = pytest.mark.django_db(transaction=True)


def connected(signal) -> set:
    """dispatch_uids of a signal's receivers (the lookup key is (uid, sender id))."""
    return {entry[0][0] for entry in signal.receivers}


def test_escalation_is_posted_with_context_and_buttons(slack, procurement):
    request_id = escalate(procurement)

    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 1
    assert posts[0].args["channel"] == "#approvals"
    message = slack.only_message()
    escalation = Escalation.objects.get(pk=request_id)
    assert (escalation.slack_message.channel, escalation.slack_message.ts) == ("C0APPROVALS", message.ts)

    body = texts(message.blocks)
    assert "`procurement-bot`" in body
    assert "`purchase_order.create`" in body
    assert "`vendor:staples`" in body
    assert "47,000 USD" in body
    assert "amount over the 10,000 auto-approval limit" in body and "amount_over_limit" in body
    risk = DecisionRequest.objects.get(pk=request_id).risk
    top = max(risk["factors"], key=lambda f: f["weight"])
    assert f"*Risk*\n*{risk['score']:.2f}* · {top['name']} +{top['weight']:.2f}" in body
    assert "*Approvals*\n0 of 1" in body and "approvers: finance" in body
    assert "office chairs for the new floor" in body and "input from user" in body
    # The deadline is a Slack date token: each reader sees it in their own time zone.
    deadline = int(escalation.deadline.timestamp())
    assert re.search(rf"<!date\^{deadline}\^\{{date_short_pretty\}} \{{time\}}\|\d{{4}}-\d\d-\d\d \d\d:\d\d UTC>", body)
    assert [(b["action_id"], b["value"]) for b in buttons(message.blocks)] == [
        ("airlock_approve", request_id),
        ("airlock_deny", request_id),
    ]
    assert message.text.startswith("Approval needed: procurement-bot wants purchase_order.create on `vendor:staples`")
    assert AuditEvent.objects.filter(request_id=request_id, kind="escalation.opened").count() == 1


def test_envelope_channel_overrides_the_global_one(slack, make_agent):
    source = (
        "agent: po-bot\napprovers: [finance]\nslack_channel: \"#finance-approvals\"\n"
        "capabilities:\n  - action: purchase_order.create\n    escalate_when: [\"params.amount > 10000\"]\n"
    )
    agent = make_agent("po-bot", source)
    request_id = escalate(agent, {"action": "purchase_order.create", "params": {"amount": 20000}})

    assert slack.calls_to("chat.postMessage")[0].args["channel"] == "#finance-approvals"
    assert SlackMessage.objects.get(pk=request_id).channel == "C0FINANCE"
    assert "20,000" in texts(slack.only_message().blocks)


def test_nothing_is_posted_before_the_decision_commits(slack, procurement, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            escalate(procurement)
            assert slack.calls_to("chat.postMessage") == []  # still inside the transaction
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_agent_text_is_escaped_so_it_cannot_ping_or_disguise_links(slack, procurement):
    body = dict(BIG_ORDER, resource="vendor:<!channel>", context={"reasoning": "see <https://evil.example|invoice> & pay"})
    escalate(procurement, body)

    message = slack.only_message()
    rendered = texts(message.blocks, mrkdwn_only=True) + "\n" + message.text
    assert "<!channel>" not in rendered and "<https://evil" not in rendered
    assert "vendor:&lt;!channel&gt;" in rendered
    assert "see &lt;https://evil.example|invoice&gt; &amp; pay" in rendered


def test_huge_params_stay_within_slack_limits(slack, make_agent):
    source = "agent: big-bot\napprovers: [finance]\ncapabilities:\n  - action: bulk.*\n    escalate_when: [\"true\"]\n"
    agent = make_agent("big-bot", source)
    params = {f"field_{i}": "x" * 500 for i in range(20)}
    escalate(agent, {"action": "bulk.export", "resource": "r" * 400, "params": params,
                     "context": {"reasoning": "y" * 5000}})

    # The fake rejects what Slack rejects (header > 150, field > 2000, section > 3000).
    message = slack.only_message()
    assert "_…and 14 more_" in texts(message.blocks)


def test_without_slack_settings_nothing_runs_and_nothing_fails(fake_slack, settings, procurement):
    """Default settings: no token, no secret. Nothing is connected, nothing reaches Slack."""
    assert settings.SLACK_ENABLED is False
    apps.get_app_config("approvals").ready()
    assert "slack.escalation_opened" not in connected(signals.escalation_opened)
    settings.SLACK_ENABLED = False
    apps.get_app_config("slack").ready()
    assert "slack.escalation_opened" not in connected(signals.escalation_opened)

    request_id = escalate(procurement)

    assert not SlackMessage.objects.filter(pk=request_id).exists()
    assert fake_slack.calls == []
    assert slack_escalation_sync.apply(args=[request_id]).result == "disabled"
    assert Client().post("/slack/interactions/", {"payload": "{}"}).status_code == 404


def test_ready_connects_the_receivers_only_when_configured(settings):
    settings.SLACK_BOT_TOKEN, settings.SLACK_SIGNING_SECRET, settings.SLACK_ENABLED = "xoxb-1", "s", True
    try:
        apps.get_app_config("slack").ready()
        for signal, _receiver, uid in receivers.RECEIVERS:
            assert uid in connected(signal)
    finally:
        receivers.disconnect()
    assert "slack.escalation_opened" not in connected(signals.escalation_opened)
    settings.SLACK_ENABLED = False
    apps.get_app_config("slack").ready()
    assert "slack.escalation_opened" not in connected(signals.escalation_opened)


def test_no_channel_configured_posts_nothing(slack, settings, procurement):
    settings.SLACK_CHANNEL = ""
    request_id = escalate(procurement)

    assert slack.calls == []
    assert slack_escalation_sync.apply(args=[request_id]).result == "no_channel"
