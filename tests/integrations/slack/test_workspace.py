"""A click counts only from Airlock's own Slack workspace (issue 9 point 11).

A Slack app can be installed in several workspaces, and every one of them signs its requests
with the same app signing secret. Before: `team_id` was parsed and never checked, so a validly
signed deny from another workspace (by someone whose Slack user id matched a linked approver)
counted. After: SLACK_TEAM_ID, or else the team of the bot token (auth.test, cached), must
match; when the team cannot be learned, no click counts (503, fail closed)."""

import pytest

from approvals.models import Vote
from governance.models import DecisionRequest
from tests.integrations.slack.conftest import TEAM, click_payload, escalate, post_interaction
from tests.integrations.slack.test_interactions import assert_nothing_recorded

pytestmark = pytest.mark.django_db(transaction=True)


def from_workspace(payload: dict, team_id: str | None) -> dict:
    """The same click, as Slack would send it from workspace `team_id` (None: no team at all)."""
    payload = dict(payload)
    payload["team"] = {"id": team_id, "domain": "elsewhere"} if team_id is not None else None
    payload["user"] = dict(payload["user"], team_id=team_id or "")
    return payload


def test_bob_in_another_workspace_cannot_deny(slack, procurement, people):
    """Mallory installs the same app in her workspace T0EVIL and gives herself Slack id U0BOB:
    her deny is signed correctly, but it is not from Airlock's workspace."""
    request_id = escalate(procurement)

    response = post_interaction(from_workspace(click_payload(request_id, "U0BOB", "deny"), "T0EVIL"))

    assert response.status_code == 403
    assert_nothing_recorded(request_id)
    assert slack.ephemerals == []


def test_a_click_naming_no_workspace_is_refused(slack, procurement, people):
    request_id = escalate(procurement)

    assert post_interaction(from_workspace(click_payload(request_id, "U0ALICE"), None)).status_code == 403
    assert post_interaction(from_workspace(click_payload(request_id, "U0ALICE"), "")).status_code == 403
    assert_nothing_recorded(request_id)


def test_configured_slack_team_id_is_used_without_asking_slack(slack, procurement, people):
    request_id = escalate(procurement)

    assert post_interaction(click_payload(request_id, "U0ALICE")).status_code == 200

    assert DecisionRequest.objects.get(pk=request_id).status == "approved"
    assert slack.calls_to("auth.test") == []


def test_without_slack_team_id_the_bot_tokens_team_is_learned_once(slack, settings, procurement, people):
    settings.SLACK_TEAM_ID = ""
    first, second = escalate(procurement), escalate(procurement)

    evil = post_interaction(from_workspace(click_payload(first, "U0BOB", "deny"), "T0EVIL"))
    ok = post_interaction(click_payload(first, "U0ALICE"))
    ok2 = post_interaction(click_payload(second, "U0BOB", "deny"))

    assert (evil.status_code, ok.status_code, ok2.status_code) == (403, 200, 200)
    assert DecisionRequest.objects.get(pk=first).status == "approved"
    assert DecisionRequest.objects.get(pk=second).status == "rejected"
    assert not Vote.objects.filter(escalation_id=first, choice="deny").exists()
    assert len(slack.calls_to("auth.test", ok_only=True)) == 1  # cached after the first click


def test_learned_team_from_auth_test_must_match(slack, settings, procurement, people):
    """The bot token belongs to T0OTHER: clicks from T0AIRLOCK are not Airlock's."""
    settings.SLACK_TEAM_ID = ""
    slack.team_id = "T0OTHER"
    request_id = escalate(procurement)

    assert post_interaction(click_payload(request_id, "U0ALICE")).status_code == 403
    assert_nothing_recorded(request_id)
    assert TEAM != "T0OTHER"


def test_when_the_team_cannot_be_learned_no_click_counts(slack, settings, procurement, people):
    """auth.test fails (Slack down, then an invalid token): fail closed, 503, nothing recorded,
    and the failure is not cached: once Slack answers, the click counts."""
    settings.SLACK_TEAM_ID = ""
    request_id = escalate(procurement)
    slack.fail("auth.test", status=503, error="service_unavailable")
    slack.fail("auth.test", status=200, error="invalid_auth")

    assert post_interaction(click_payload(request_id, "U0ALICE")).status_code == 503
    assert post_interaction(click_payload(request_id, "U0ALICE")).status_code == 503
    assert_nothing_recorded(request_id)

    assert post_interaction(click_payload(request_id, "U0ALICE")).status_code == 200
    assert DecisionRequest.objects.get(pk=request_id).status == "approved"
