"""Tier and reminder notices in Slack: a reply in the escalation's thread that shows the time
left and mentions the people concerned, except those who muted Slack."""

from datetime import timedelta

import pytest
import time_machine

from approvals.preferences import preferences_set
from approvals.routing import routing_due
from governance.models import DecisionRequest
from integrations.slack.models import SlackMessage
from tests.integrations.slack.conftest import escalate, texts

pytestmark = pytest.mark.django_db(transaction=True)

TIERED = """
agent: procurement-bot
approvers: [finance]
escalation_ttl: 15m
tiers:
  - {after: 5m, approvers: [marketing]}
capabilities:
  - action: purchase_order.create
    resources: ["vendor:*"]
    escalate_when: ["params.amount > 10000"]
"""


def _replies(slack, thread):
    return [c.args for c in slack.calls_to("chat.postMessage", ok_only=True) if c.args.get("thread_ts") == thread]


def test_tier_and_reminder_notices_show_time_left_and_mention_only_who_wants_slack(slack, make_agent, people):
    preferences_set(user=people["bob"], muted=["slack"], by="user:bob", known=["slack"])
    request_id = escalate(make_agent(envelope=TIERED))
    thread = SlackMessage.objects.get(pk=request_id).ts
    opened = DecisionRequest.objects.get(pk=request_id).created_at
    # The message itself says who joins, and when.
    message = slack.only_message()
    assert "approvers: finance, then marketing from <!date^" in texts(message.blocks)

    with time_machine.travel(opened + timedelta(minutes=5), tick=False):
        assert routing_due() == 1
    (tier,) = _replies(slack, thread)
    text = texts(tier["blocks"])
    assert "Tier 1 is now eligible" in text and "(marketing)" in text and "*10 min left*" in text
    assert "<@U0CHARLIE>" in text and "<@U0ALICE>" not in text
    assert tier["reply_broadcast"] in (True, "true", "1", 1)

    with time_machine.travel(opened + timedelta(minutes=12), tick=False):
        assert routing_due() == 1
    reminder = texts(_replies(slack, thread)[1]["blocks"])
    assert "Reminder: 3 min left" in reminder
    assert "<@U0ALICE>" in reminder and "<@U0CHARLIE>" in reminder
    assert "<@U0BOB>" not in reminder  # bob muted Slack
    assert f"/escalations/{request_id}/|open in Airlock>" in reminder
