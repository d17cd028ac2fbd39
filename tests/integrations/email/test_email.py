"""The email channel against a real SMTP server (aiosmtpd): what is sent, to whom, and what its
links do. A GET (a mail scanner following links) records nothing; the confirmed POST records one
vote through the one vote service, with via="email"."""

import re

import pytest
from django.test import Client
from django.utils import timezone

from approvals.models import Vote
from approvals.preferences import preferences_set
from approvals.routing import routing_due
from approvals.services import approval_decide
from governance.models import AuditEvent, DecisionRequest
from integrations.email.models import EmailSent, VoteLink
from tests.integrations.email.conftest import ORDER, ROUTED, links_in, text_of

pytestmark = pytest.mark.django_db(transaction=True)


def escalate(agent) -> str:
    response = agent.decide(ORDER)
    assert response.json()["decision"] == "escalate", response.json()
    return response.json()["id"]


def confirm_page(client: Client, path: str):
    response = client.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    return response, token.group(1) if token else ""


def test_an_escalation_mails_each_eligible_approver_with_facts_time_left_and_links(mail, team, make_agent):
    agent = make_agent(envelope=ROUTED)
    request_id = escalate(agent)
    assert sorted(m["To"] for m in mail.messages) == ["alice@example.com", "bob@example.com"]
    message = mail.to("alice@example.com")[0]
    assert message["From"] == "airlock@example.com"
    assert "procurement-bot wants purchase_order.create on vendor:acme" in message["Subject"]
    assert "14 min left" in message["Subject"]
    body = text_of(message)
    for fact in ("purchase_order.create", "vendor:acme", "amount: 47000", "desks for the new floor", "Time left: 14 min"):
        assert fact in body, fact
    links = links_in(message)
    assert links["page"] == f"http://airlock.test/escalations/{request_id}/"
    assert links["approve"] != links["deny"]
    html = message.get_body(preferencelist=("html",)).get_content()
    assert f"/escalations/{request_id}/" in html
    # Each message was sent once and remembered; charlie and oscar (not yet) got nothing.
    assert EmailSent.objects.filter(reason="opened").count() == 2


def test_a_scanner_get_records_nothing_and_the_confirmed_post_records_one_vote(mail, team, make_agent):
    agent = make_agent(envelope=ROUTED)
    request_id = escalate(agent)
    links = links_in(mail.to("alice@example.com")[0])

    scanner = Client()
    for _ in range(3):  # link previews, scanners, a second click
        response = scanner.get(links["approve"])
        assert response.status_code == 200
        assert b"Approve as alice?" in response.content
    assert response["Referrer-Policy"] == "same-origin"
    assert not Vote.objects.exists()
    assert not VoteLink.objects.filter(used_at__isnull=False).exists()
    assert DecisionRequest.objects.get(pk=request_id).status == "pending"

    person = Client(enforce_csrf_checks=True)
    _, csrf = confirm_page(person, links["approve"])
    response = person.post(links["approve"], {"comment": "fine by me", "csrfmiddlewaretoken": csrf})
    assert response.status_code == 200, response.content
    assert b"Approved" in response.content
    vote = Vote.objects.get()
    assert (vote.user.username, vote.choice, vote.via, vote.comment) == ("alice", "approve", "email", "fine by me")
    request = DecisionRequest.objects.get(pk=request_id)
    assert request.status == "approved" and request.decided_by == ["alice"]
    event = AuditEvent.objects.get(kind="escalation.vote")
    assert event.actor == "user:alice" and event.payload["via"] == "email"

    # Single use: the same link again, and alice's deny link, are dead and record nothing.
    again = person.post(links["approve"], {"csrfmiddlewaretoken": csrf})
    assert again.status_code == 409
    deny = Client().get(links_in(mail.to("alice@example.com")[0])["deny"])
    assert deny.status_code == 409
    assert Vote.objects.count() == 1


def test_a_post_without_the_confirmation_pages_csrf_token_records_nothing(mail, team, make_agent):
    agent = make_agent(envelope=ROUTED)
    escalate(agent)
    links = links_in(mail.to("alice@example.com")[0])
    response = Client(enforce_csrf_checks=True).post(links["approve"], {})
    assert response.status_code == 403
    assert not Vote.objects.exists()


def test_links_die_with_the_escalation(mail, team, make_agent):
    agent = make_agent(envelope=ROUTED)
    request_id = escalate(agent)
    links = links_in(mail.to("alice@example.com")[0])
    approval_decide(request_id=request_id, user=team["bob"], choice="deny", via="web")
    response = Client().get(links["approve"])
    assert response.status_code == 409
    assert b"no longer pending" in response.content
    response = Client().post(links["approve"], {})
    assert response.status_code == 409
    assert Vote.objects.count() == 1  # bob's


def test_forged_or_edited_links_are_404(mail, team, make_agent):
    agent = make_agent(envelope=ROUTED)
    escalate(agent)
    path = links_in(mail.to("alice@example.com")[0])["approve"]
    token = path.split("/")[3]
    link_id, _, rest = token.partition(".")
    other = VoteLink.objects.exclude(pk=int(link_id)).first()
    for bad in (token[:-2] + "xx", f"{other.pk}.{rest}", "1.abc:def", "nonsense"):
        assert Client().get(f"/email/vote/{bad}/").status_code == 404, bad
        assert Client().post(f"/email/vote/{bad}/").status_code == 404, bad
    assert not Vote.objects.exists()


def test_a_tier_mails_only_its_newcomers_and_their_links_vote_after_the_tier(mail, team, make_agent):
    agent = make_agent(envelope=ROUTED)
    request_id = escalate(agent)
    mail.messages.clear()
    opened = DecisionRequest.objects.get(pk=request_id).created_at
    from datetime import timedelta

    import time_machine

    with time_machine.travel(opened + timedelta(minutes=5, seconds=1), tick=False):
        assert routing_due() == 1
        assert [m["To"] for m in mail.messages] == ["oscar@example.com"]
        message = mail.messages[0]
        assert "escalated to you" in message["Subject"] and "9 min left" in message["Subject"]
        assert "you (tier 1) may now answer it" in text_of(message)
        links = links_in(message)
        client = Client()
        client.get(links["deny"])
        response = client.post(links["deny"], {"comment": "not on my watch"})
    assert response.status_code == 200, response.content
    request = DecisionRequest.objects.get(pk=request_id)
    assert request.status == "rejected" and request.decided_by == ["oscar"]


def test_a_reminder_mails_those_who_have_not_voted_with_the_time_left(mail, team, make_agent):
    agent = make_agent(envelope=ROUTED.replace("quorum: 1", "quorum: 2"))
    request_id = escalate(agent)
    approval_decide(request_id=request_id, user=team["bob"], choice="approve", via="web")
    mail.messages.clear()
    from datetime import timedelta

    import time_machine

    opened = DecisionRequest.objects.get(pk=request_id).created_at
    with time_machine.travel(opened + timedelta(minutes=12), tick=False):
        assert routing_due() == 2  # the tier (oscar's first mail) and the reminder
    reminders = [m for m in mail.messages if m["Subject"].startswith("[Airlock] Reminder")]
    assert sorted(m["To"] for m in reminders) == ["alice@example.com", "oscar@example.com"]
    assert all("(3 min left)" in m["Subject"] for m in reminders)
    assert "expires to deny in 3 min" in text_of(reminders[0])


def test_a_person_who_muted_email_gets_none(mail, team, make_agent):
    preferences_set(user=team["alice"], muted=["email"], by="user:alice")
    agent = make_agent(envelope=ROUTED)
    escalate(agent)
    assert [m["To"] for m in mail.messages] == ["bob@example.com"]
    assert AuditEvent.objects.get(kind="approver.preferences").payload["muted_channels"] == ["email"]


def test_a_delegate_is_mailed_and_votes_for_the_absent_person(mail, team, make_agent):
    from datetime import timedelta

    from approvals.routing import delegation_set

    delegation_set(user=team["bob"], delegate=team["charlie"], until=timezone.now() + timedelta(days=1), by="user:bob")
    agent = make_agent(envelope=ROUTED)
    request_id = escalate(agent)
    assert sorted(m["To"] for m in mail.messages) == ["alice@example.com", "bob@example.com", "charlie@example.com"]
    links = links_in(mail.to("charlie@example.com")[0])
    client = Client()
    client.get(links["approve"])
    response = client.post(links["approve"], {})
    assert response.status_code == 200
    assert b"for bob" in response.content
    assert DecisionRequest.objects.get(pk=request_id).decided_by == ["charlie for bob"]


def test_at_or_above_web_only_at_risk_the_email_post_records_nothing_and_sends_to_the_page(mail, team, make_agent):
    """web_only_at_risk (issue 12) holds on the email channel too: the vote service refuses
    via="email", the confirmation page says so with the escalation's link, the link stays unspent."""
    agent = make_agent(envelope=ROUTED + "web_only_at_risk: 0\n")
    request_id = escalate(agent)
    links = links_in(mail.to("alice@example.com")[0])
    person = Client(enforce_csrf_checks=True)
    _, csrf = confirm_page(person, links["approve"])
    response = person.post(links["approve"], {"csrfmiddlewaretoken": csrf})
    assert response.status_code == 403
    page = response.content.decode()
    assert "Not recorded" in page and f"/escalations/{request_id}/" in page
    assert not Vote.objects.exists()
    assert not VoteLink.objects.filter(used_at__isnull=False).exists()
    assert DecisionRequest.objects.get(pk=request_id).status == "pending"
