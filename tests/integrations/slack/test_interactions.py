"""POST /slack/interactions/: signed clicks become votes through approval_decide; forged,
tampered or replayed requests get 401 and change nothing; people Airlock cannot match or who
may not vote get an ephemeral refusal and change nothing."""

import json
import time
from urllib.parse import urlencode

import pytest

from airlock.celery import app as celery_app
from approvals.models import Vote
from approvals.services import approval_decide
from governance.models import AuditEvent, DecisionRequest
from tests.integrations.slack.conftest import (
    CHANNEL_ID,
    buttons,
    click_payload,
    escalate,
    post_interaction,
    sign,
    texts,
)

pytestmark = pytest.mark.django_db(transaction=True)


def assert_nothing_recorded(request_id: str) -> None:
    assert DecisionRequest.objects.get(pk=request_id).status == "pending"
    assert not Vote.objects.filter(escalation_id=request_id).exists()
    assert not AuditEvent.objects.filter(request_id=request_id, kind__in=[
        "escalation.vote", "escalation.approved", "escalation.rejected"]).exists()


def test_alice_approves_in_slack(slack, procurement, people):
    request_id = escalate(procurement)

    response = post_interaction(click_payload(request_id, "U0ALICE"))

    assert response.status_code == 200 and response.content == b""
    request = DecisionRequest.objects.get(pk=request_id)
    assert (request.status, request.decided_by) == ("approved", ["alice"])
    vote = Vote.objects.get(escalation_id=request_id)
    assert (vote.user.username, vote.choice, vote.via) == ("alice", "approve", "slack")
    event = AuditEvent.objects.get(request_id=request_id, kind="escalation.vote")
    assert event.actor == "user:alice" and event.payload["via"] == "slack"
    assert AuditEvent.objects.filter(request_id=request_id, kind="escalation.approved").count() == 1
    message = slack.only_message()
    assert buttons(message.blocks) == [] and "*Approved* by alice (Slack)" in texts(message.blocks)
    assert slack.ephemerals == []


def test_bob_denies_in_slack(slack, procurement, people):
    request_id = escalate(procurement)

    assert post_interaction(click_payload(request_id, "U0BOB", "deny")).status_code == 200

    assert DecisionRequest.objects.get(pk=request_id).status == "rejected"
    assert AuditEvent.objects.filter(request_id=request_id, kind="escalation.rejected").count() == 1
    assert ":no_entry: *Rejected* by bob (Slack)" in texts(slack.only_message().blocks)


def test_forged_signature_is_401_and_records_nothing(slack, procurement, people):
    request_id = escalate(procurement)
    body = urlencode({"payload": json.dumps(click_payload(request_id, "U0ALICE"))})

    response = post_interaction({}, body=body, headers=sign(body, secret="not-the-signing-secret"))

    assert response.status_code == 401
    assert_nothing_recorded(request_id)
    assert slack.calls_to("chat.update") == [] and slack.ephemerals == []


def test_missing_signature_is_401(slack, procurement, people):
    request_id = escalate(procurement)

    response = post_interaction(click_payload(request_id, "U0ALICE"), headers={})

    assert response.status_code == 401
    assert_nothing_recorded(request_id)


def test_tampered_body_is_401(slack, procurement, people):
    """Signed for charlie's click, sent with alice's id swapped in."""
    request_id = escalate(procurement)
    signed_body = urlencode({"payload": json.dumps(click_payload(request_id, "U0CHARLIE"))})
    sent_body = urlencode({"payload": json.dumps(click_payload(request_id, "U0ALICE"))})

    response = post_interaction({}, body=sent_body, headers=sign(signed_body))

    assert response.status_code == 401
    assert_nothing_recorded(request_id)


def test_replayed_old_timestamp_is_401(slack, procurement, people):
    """A correctly signed request captured six minutes ago is outside Slack's 5-minute window."""
    request_id = escalate(procurement)
    body = urlencode({"payload": json.dumps(click_payload(request_id, "U0ALICE"))})

    response = post_interaction({}, body=body, headers=sign(body, timestamp=int(time.time()) - 6 * 60))

    assert response.status_code == 401
    assert_nothing_recorded(request_id)


def test_future_timestamp_and_garbage_timestamp_are_401(slack, procurement, people):
    request_id = escalate(procurement)
    body = urlencode({"payload": json.dumps(click_payload(request_id, "U0ALICE"))})
    headers = sign(body, timestamp=int(time.time()) + 6 * 60)
    assert post_interaction({}, body=body, headers=headers).status_code == 401
    headers = dict(sign(body), HTTP_X_SLACK_REQUEST_TIMESTAMP="yesterday")
    assert post_interaction({}, body=body, headers=headers).status_code == 401
    assert_nothing_recorded(request_id)


def test_replay_within_the_window_counts_once(slack, make_agent, people):
    """The same signed click delivered twice (Slack retries, or a replay within 5 minutes)."""
    source = "agent: po-bot\napprovers: [finance]\nquorum: 2\ncapabilities:\n  - action: po.*\n    escalate_when: [\"true\"]\n"
    request_id = escalate(make_agent("po-bot", source), {"action": "po.create"})
    body = urlencode({"payload": json.dumps(click_payload(request_id, "U0ALICE"))})
    headers = sign(body)

    assert post_interaction({}, body=body, headers=headers).status_code == 200
    assert post_interaction({}, body=body, headers=headers).status_code == 200

    assert Vote.objects.filter(escalation_id=request_id).count() == 1
    assert DecisionRequest.objects.get(pk=request_id).status == "pending"
    assert [e["text"] for e in slack.ephemerals] == ["You have already answered this request; your first answer stands."]


def test_ineligible_charlie_is_refused_privately(slack, procurement, people):
    request_id = escalate(procurement)

    response = post_interaction(click_payload(request_id, "U0CHARLIE"))

    assert response.status_code == 200
    assert_nothing_recorded(request_id)
    assert slack.ephemerals == [{
        "channel": CHANNEL_ID, "user": "U0CHARLIE",
        "text": "You are not an eligible approver for this request, so your click was not counted.",
    }]
    assert len(buttons(slack.only_message().blocks)) == 2  # message untouched
    assert slack.calls_to("chat.update") == []


def test_unknown_slack_user_is_refused_privately(slack, procurement, people):
    request_id = escalate(procurement)

    assert post_interaction(click_payload(request_id, "U0STRANGER")).status_code == 200

    assert_nothing_recorded(request_id)
    assert [c.args["user"] for c in slack.calls_to("users.info")] == ["U0STRANGER"]
    assert len(slack.ephemerals) == 1 and slack.ephemerals[0]["user"] == "U0STRANGER"
    assert "does not know your Slack account" in slack.ephemerals[0]["text"]
    assert "--slack-id U0STRANGER" in slack.ephemerals[0]["text"]


def test_email_lookup_maps_dora(slack, procurement, people):
    """dora has no Slack id in Airlock; users.info gives her Slack email, which matches."""
    slack.add_user("U0DORA", "Dora@Example.com")
    request_id = escalate(procurement)

    assert post_interaction(click_payload(request_id, "U0DORA")).status_code == 200

    request = DecisionRequest.objects.get(pk=request_id)
    assert (request.status, request.decided_by) == ("approved", ["dora"])
    assert Vote.objects.get(escalation_id=request_id).via == "slack"
    assert AuditEvent.objects.filter(request_id=request_id, kind="escalation.approved", actor="user:dora").exists()


def test_email_lookup_is_retried_when_slack_fails(slack, procurement, people):
    slack.add_user("U0DORA", "dora@example.com")
    slack.fail("users.info", status=429, retry_after=1)
    request_id = escalate(procurement)

    post_interaction(click_payload(request_id, "U0DORA"))

    assert [c.status for c in slack.calls_to("users.info")] == [429, 200]
    assert DecisionRequest.objects.get(pk=request_id).status == "approved"
    assert Vote.objects.filter(escalation_id=request_id).count() == 1


def test_email_shared_by_two_people_is_refused(slack, procurement, people):
    people["bob"].email = "dora@example.com"
    people["bob"].save()
    slack.add_user("U0DORA", "dora@example.com")
    request_id = escalate(procurement)

    post_interaction(click_payload(request_id, "U0DORA"))

    assert_nothing_recorded(request_id)
    assert "does not know your Slack account" in slack.ephemerals[0]["text"]


def test_slack_user_without_email_is_refused(slack, procurement, people):
    slack.add_user("U0BOT", None, is_bot=True)
    request_id = escalate(procurement)

    post_interaction(click_payload(request_id, "U0BOT"))

    assert_nothing_recorded(request_id)
    assert slack.ephemerals[0]["user"] == "U0BOT"


def test_deactivated_person_is_unknown(slack, procurement, people):
    people["alice"].is_active = False
    people["alice"].save()
    request_id = escalate(procurement)

    post_interaction(click_payload(request_id, "U0ALICE"))

    assert_nothing_recorded(request_id)
    assert "does not know your Slack account" in slack.ephemerals[0]["text"]


def test_slack_click_after_a_web_decision_is_told_it_was_already_decided(slack, procurement, people):
    request_id = escalate(procurement)
    approval_decide(request_id=request_id, user=people["bob"], choice="approve", via="web")

    assert post_interaction(click_payload(request_id, "U0ALICE", "deny")).status_code == 200

    request = DecisionRequest.objects.get(pk=request_id)
    assert (request.status, request.decided_by) == ("approved", ["bob"])
    assert Vote.objects.filter(escalation_id=request_id).count() == 1
    assert slack.ephemerals == [{
        "channel": CHANNEL_ID, "user": "U0ALICE",
        "text": "Too late: this request was already approved by bob. Your click was not counted.",
    }]


def test_click_past_the_deadline_is_told_it_expired(slack, procurement, people, settings):
    import time_machine

    request_id = escalate(procurement)
    deadline = DecisionRequest.objects.get(pk=request_id).expires_at
    with time_machine.travel(deadline.timestamp() + 5, tick=False):
        # Slack signs with its clock; the click arrives after the deadline.
        post_interaction(click_payload(request_id, "U0ALICE"))

    assert DecisionRequest.objects.get(pk=request_id).status == "expired"
    assert "already expired" in slack.ephemerals[0]["text"]
    assert ":hourglass: *Expired*" in texts(slack.only_message().blocks)
    assert AuditEvent.objects.filter(request_id=request_id, kind="escalation.expired").count() == 1


def test_the_view_answers_without_calling_slack(slack, settings, procurement, people, redis_url):
    """With a real broker and no worker, the click is recorded and answered; every Slack call
    waits in the queue. (Slack needs an answer within 3 s; the view never waits on Slack.)"""
    request_id = escalate(procurement)
    calls_before = len(slack.calls)
    settings.CELERY_TASK_ALWAYS_EAGER = False

    response = post_interaction(click_payload(request_id, "U0CHARLIE"))  # refusal queued
    response2 = post_interaction(click_payload(request_id, "U0ALICE"))  # vote recorded, update queued

    try:
        assert (response.status_code, response2.status_code) == (200, 200)
        assert len(slack.calls) == calls_before
        assert DecisionRequest.objects.get(pk=request_id).status == "approved"
    finally:
        celery_app.control.purge()  # no worker test later in this run may pick these up


def test_other_payloads_are_acknowledged_and_ignored(slack, procurement, people):
    request_id = escalate(procurement)
    for payload in (
        {"type": "view_submission", "user": {"id": "U0ALICE"}},
        dict(click_payload(request_id, "U0ALICE"), actions=[{"action_id": "something_else", "value": request_id}]),
        dict(click_payload(request_id, "U0ALICE"), actions=[{"action_id": "airlock_approve", "value": "not-a-uuid"}]),
    ):
        assert post_interaction(payload).status_code == 200
    body = urlencode({"payload": "{not json"})
    assert post_interaction({}, body=body).status_code == 200
    assert_nothing_recorded(request_id)


def test_get_is_not_allowed(slack, client):
    assert client.get("/slack/interactions/").status_code == 405
