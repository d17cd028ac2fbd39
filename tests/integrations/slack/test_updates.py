"""One truth: whatever resolves an escalation (web, Slack, API, expiry), its Slack message is
updated in place; partial approvals show progress; breaker trips are announced."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.services import approval_decide, escalation_expire
from approvals.tokens import personal_token_create
from governance.models import Agent, AuditEvent, DecisionRequest
from governance.signals import breaker_tripped, send_after_commit
from tests.integrations.slack.conftest import (
    buttons,
    click_payload,
    escalate,
    post_interaction,
    texts,
)

pytestmark = pytest.mark.django_db(transaction=True)

QUORUM_2 = """
agent: {name}
approvers: [finance]
quorum: 2
capabilities:
  - action: purchase_order.create
    resources: ["vendor:*"]
    escalate_when: ["params.amount > 10000"]
"""


def test_web_approval_updates_the_message_in_place(slack, procurement, people):
    request_id = escalate(procurement)
    posted = slack.only_message()

    approval_decide(request_id=request_id, user=people["alice"], choice="approve", comment="budgeted", via="web")

    updates = slack.calls_to("chat.update")
    assert len(updates) == 1
    assert (updates[0].args["channel"], updates[0].args["ts"]) == ("C0APPROVALS", posted.ts)
    message = slack.only_message()  # still one message: updated, not reposted
    assert buttons(message.blocks) == []
    body = texts(message.blocks)
    assert ":white_check_mark: *Approved* by alice (web)" in body
    assert ">budgeted" in body
    decided_at = DecisionRequest.objects.get(pk=request_id).decided_at
    assert f"<!date^{int(decided_at.timestamp())}^" in body
    assert message.text.startswith("Approved: procurement-bot wants purchase_order.create")
    assert AuditEvent.objects.filter(request_id=request_id, kind="escalation.approved").count() == 1


def test_api_denial_shows_rejected_and_who(slack, procurement, people):
    request_id = escalate(procurement)
    token = personal_token_create(user=people["bob"])

    response = APIClient().post(
        f"/api/v1/escalations/{request_id}/deny", {"comment": "not from this vendor"}, format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == 200, response.content
    body = texts(slack.only_message().blocks)
    assert ":no_entry: *Rejected* by bob (API)" in body and "not from this vendor" in body
    assert buttons(slack.only_message().blocks) == []
    assert AuditEvent.objects.filter(request_id=request_id, kind="escalation.rejected").count() == 1


def test_quorum_of_two_shows_progress_then_the_outcome(slack, make_agent, people):
    agent = make_agent("po-bot", QUORUM_2.format(name="po-bot"))
    request_id = escalate(agent, {"action": "purchase_order.create", "resource": "vendor:acme", "params": {"amount": 20000}})
    assert "0 of 2" in texts(slack.only_message().blocks)

    response = post_interaction(click_payload(request_id, "U0ALICE"))
    assert response.status_code == 200

    partial = slack.only_message()
    assert "1 of 2: alice (Slack)" in texts(partial.blocks)
    assert len(buttons(partial.blocks)) == 2  # still open for the second approver
    assert DecisionRequest.objects.get(pk=request_id).status == "pending"
    assert AuditEvent.objects.filter(request_id=request_id, kind="escalation.vote").count() == 1

    approval_decide(request_id=request_id, user=people["bob"], choice="approve", via="web")

    final = slack.only_message()
    assert buttons(final.blocks) == []
    assert "*Approved* by alice (Slack), bob (web)" in texts(final.blocks)
    assert len(final.history) == 2  # posted, then updated twice
    assert AuditEvent.objects.filter(request_id=request_id, kind="escalation.approved").count() == 1


def test_expiry_updates_the_message(slack, procurement):
    request_id = escalate(procurement)
    deadline = DecisionRequest.objects.get(pk=request_id).expires_at

    assert escalation_expire(request_id=request_id, now=deadline + timedelta(seconds=1))

    message = slack.only_message()
    assert buttons(message.blocks) == []
    assert ":hourglass: *Expired*" in texts(message.blocks) and "*deny*" in texts(message.blocks)
    assert message.text.startswith("Expired — treated as deny: procurement-bot")
    assert AuditEvent.objects.filter(request_id=request_id, kind="escalation.expired").count() == 1


def test_breaker_trip_is_posted_to_the_channel(slack, procurement):
    agent = procurement.agent
    with transaction.atomic():
        # What the breaker service does: mark the agent, then signal after commit.
        Agent.objects.filter(pk=agent.pk).update(breaker_tripped_at=timezone.now(), breaker_reason="5 violations in 10m")
        send_after_commit(breaker_tripped, agent_id=agent.pk, reason="5 violations in 10m")
        assert slack.calls == []

    post = slack.calls_to("chat.postMessage")
    assert len(post) == 1 and post[0].args["channel"] == "#approvals"
    body = texts(slack.only_message().blocks)
    assert "`procurement-bot` is now *supervised*" in body and "5 violations in 10m" in body
    assert slack.only_message().text == "Circuit breaker tripped: procurement-bot is now supervised"
