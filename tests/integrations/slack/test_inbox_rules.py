"""Issue 12 in Slack: at or above web_only_at_risk (or comment_required_at_risk, which a
button cannot satisfy) a click records nothing and the clicker is sent to the escalation's
page; the message links to that page; an extended deadline shows in the message."""

import pytest

from approvals.extend import escalation_extend
from approvals.models import Vote
from governance.models import AuditEvent, DecisionRequest
from tests.approvals.conftest import envelope_with
from tests.integrations.slack.conftest import click_payload, escalate, post_interaction, texts

pytestmark = pytest.mark.django_db(transaction=True)


def with_rules(name: str, **rules) -> str:
    extra = "".join(f"{key}: {value}\n" for key, value in rules.items())
    return envelope_with(agent=name).replace("capabilities:\n", extra + "capabilities:\n", 1)


@pytest.mark.parametrize(("rule", "why"), [
    ("web_only_at_risk", "too high to answer from Slack"),
    ("comment_required_at_risk", "needs a comment"),
])
def test_a_click_at_high_risk_records_nothing_and_links_the_page(slack, make_agent, people, settings, rule, why):
    settings.AIRLOCK_BASE_URL = "https://airlock.example.com"
    agent = make_agent("wire-bot", with_rules("wire-bot", **{rule: 0}))
    request_id = escalate(agent)

    assert post_interaction(click_payload(request_id, "U0ALICE")).status_code == 200

    assert DecisionRequest.objects.get(pk=request_id).status == "pending"
    assert not Vote.objects.filter(escalation_id=request_id).exists()
    assert not AuditEvent.objects.filter(request_id=request_id, kind="escalation.vote").exists()
    [ephemeral] = slack.ephemerals
    assert ephemeral["user"] == "U0ALICE" and ephemeral["text"].startswith("Not recorded")
    assert why in ephemeral["text"]
    assert f"<https://airlock.example.com/escalations/{request_id}/|" in ephemeral["text"]


def test_the_message_links_the_page_and_shows_an_extension(slack, procurement, people, settings):
    settings.AIRLOCK_BASE_URL = "https://airlock.example.com"
    request_id = escalate(procurement)
    message = slack.only_message()
    assert f"<https://airlock.example.com/escalations/{request_id}/|open in Airlock>" in texts(message.blocks)
    before = texts(message.blocks)
    escalation_extend(request_id=request_id, user=people["alice"], by="10m", comment="more time")
    after = texts(slack.only_message().blocks)
    assert after != before and "Deadline" in after
