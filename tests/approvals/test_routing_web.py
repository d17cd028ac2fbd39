"""The web side of routing: "away until" and notification choices on /me/, the queue showing a
tier's escalations to its people once the tier opens (and to delegates), and the live push of
a tier's card to its newcomers only."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from approvals.models import ApproverProfile, Delegation
from approvals.preferences import channel_register, channel_unregister, notifies
from approvals.selectors import pending_escalations
from governance.decide import DecideInput, decide
from governance.models import Agent, AuditEvent
from tests.approvals.conftest import person
from tests.approvals.test_routing import ORDER, ROUTED


@pytest.fixture
def oscar(db):
    return person("oscar", "oncall-sre")


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_away_until_sets_and_ends_a_delegation_audited(bob, charlie):
    client = _login(bob)
    assert b"Away until (UTC)" in client.get("/me/").content
    until = (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    response = client.post("/me/away", {"delegate": "charlie", "until": until})
    assert response.status_code == 302
    row = Delegation.objects.get()
    assert (row.user, row.delegate, row.until.isoformat()) == (bob, charlie, f"{until}:00+00:00")
    page = client.get("/me/").content.decode()
    assert "charlie</strong> answers for you until" in page
    assert AuditEvent.objects.get(kind="approver.delegated").actor == "user:bob"
    client.post("/me/away", {"clear": "1"})
    assert Delegation.objects.get().cleared_at is not None
    assert AuditEvent.objects.get(kind="approver.delegation_cleared").actor == "user:bob"


@pytest.mark.parametrize("form, message", [
    ({"delegate": "bob", "until": "2099-06-01T18:00"}, "themselves"),
    ({"delegate": "charlie", "until": "2099-06-01T18:00"}, "at most a year"),
    ({"delegate": "charlie", "until": "2001-06-01T18:00"}, "future"),
    ({"delegate": "charlie", "until": "tomorrow"}, "give a date and time"),
    ({"delegate": "nobody", "until": "2026-06-01T18:00"}, "no user"),
])
def test_a_bad_away_form_is_refused_and_changes_nothing(bob, charlie, form, message):
    response = _login(bob).post("/me/away", form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Delegation.objects.exists()


def test_notification_choices_are_saved_per_person(alice):
    channel_register("email", "Email")
    channel_register("slack", "Slack")
    try:
        client = _login(alice)
        page = client.get("/me/").content.decode()
        assert 'value="email" checked' in page and 'value="slack" checked' in page
        client.post("/me/notifications", {"channel": ["slack"]})
        assert ApproverProfile.objects.get(user=alice).muted_channels == ["email"]
        assert not notifies(alice, "email") and notifies(alice, "slack")
        assert AuditEvent.objects.get(kind="approver.preferences").actor == "user:alice"
    finally:
        channel_unregister("email")
        channel_unregister("slack")


def test_the_queue_shows_a_tier_its_escalation_once_it_opens_and_a_delegate_their_absent_colleagues(
    make_agent, alice, bob, charlie, oscar
):
    routed = make_agent(envelope=ROUTED)
    start = timezone.now()
    row, _ = decide(agent=Agent.objects.get(pk=routed.agent.pk), data=DecideInput(**ORDER.__dict__), now=start)
    assert [e.pk for e in pending_escalations(oscar)] == []
    assert [e.pk for e in pending_escalations(charlie)] == []
    Delegation.objects.create(user=bob, delegate=charlie, until=start + timedelta(hours=1))
    assert [e.pk for e in pending_escalations(charlie)] == [row.pk]
    with time_machine.travel(start + timedelta(minutes=5, seconds=1), tick=False):
        assert [e.pk for e in pending_escalations(oscar)] == [row.pk]


def test_a_tier_pushes_the_card_to_its_newcomers_only(make_agent, alice, oscar):
    from webqueue.live import render_event

    routed = make_agent(envelope=ROUTED)
    start = timezone.now() - timedelta(minutes=6)
    row, _ = decide(agent=Agent.objects.get(pk=routed.agent.pk), data=DecideInput(**ORDER.__dict__), now=start)
    sessions = {}
    for user in (alice, oscar):
        client = _login(user)
        sessions[user.username] = client.session.session_key
    message = {"type": "queue.event", "event": "tier", "request_id": str(row.pk), "groups": "oncall-sre"}
    pushed = render_event(oscar.pk, sessions["oscar"], message)
    assert "beforeend:#queue-list" in pushed.html and str(row.pk) in pushed.html
    assert render_event(alice.pk, sessions["alice"], message).html == ""
