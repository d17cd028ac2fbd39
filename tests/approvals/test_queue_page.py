"""The web queue at / (SPEC §6 "Web queue"): what each person sees, and answering in place."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from approvals.models import Vote
from governance.breaker import breaker_trip
from governance.models import AuditEvent, DecisionRequest
from tests.approvals.conftest import envelope_with

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def kinds(request_id) -> list[str]:
    return list(AuditEvent.objects.filter(request_id=request_id).order_by("id").values_list("kind", flat=True))


def card_ids(html: str) -> list[str]:
    return re.findall(r'<article id="esc-([0-9a-f-]{36})"', html)


def vote(client: Client, request_id: str, choice: str, comment: str = "", **extra):
    return client.post(f"/escalations/{request_id}/vote", {"choice": choice, "comment": comment}, **HTMX, **extra)


@pytest.fixture
def quick(make_agent):
    """A second agent whose escalations are due in 2 minutes: more urgent than the demo's 15."""
    return make_agent("quick-bot", envelope_with(agent="quick-bot", escalation_ttl="2m"))


@pytest.fixture
def two_person(make_agent):
    return make_agent("capex-bot", envelope_with(agent="capex-bot", quorum=2))


def test_anonymous_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_queue_lists_pending_escalations_most_urgent_first(procurement, quick, escalate, alice):
    procurement.decide({"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 320, "currency": "USD"}})
    later = escalate()
    sooner = escalate(quick)
    response = signed_in(alice).get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert card_ids(html) == [sooner, later]
    assert 'ws-connect="/ws/queue/"' in html and 'hx-ext="ws"' in html
    # Rows are compact; expanding one fetches its full card: everything an approver needs to
    # judge it: who, what, how much, why, and what came before.
    row = html[html.index(f'id="esc-{later}"'):]
    assert f'data-more="/escalations/{later}/card"' in row and "Recent history" not in html
    assert "✓ Approve $47,000" in row and "0 of 1" in row  # progress and buttons stay in the row
    card = signed_in(alice).get(f"/escalations/{later}/card").content.decode()
    assert "<html" not in card and f'id="esc-{later}"' in card
    for text in ("procurement-bot", "purchase_order.create", "vendor:acme-furniture", "$47,000",
                 "amount over the 10,000 auto-approval limit", "desks for the new floor",
                 "confidence 91%", "a user&#x27;s message", "never used this resource before",
                 "0 of 1", "Recent history of procurement-bot", "$320", "✓ Approve $47,000", "✕ Deny"):
        assert text in card, text
    assert re.search(r'data-deadline="\d{4}-\d\d-\d\dT[\d:.]+Z"', card)


def test_queue_shows_only_what_the_person_may_answer(escalate, charlie, admin):
    rid = escalate()
    assert card_ids(signed_in(charlie).get("/").content.decode()) == []
    assert "Nothing is waiting for you" in signed_in(charlie).get("/").content.decode()
    assert card_ids(signed_in(admin).get("/").content.decode()) == [rid]


def test_approving_in_place_answers_with_the_resolved_card(escalate, alice):
    rid = escalate()
    response = vote(signed_in(alice), rid, "approve", "budgeted in Q3")
    assert response.status_code == 200
    html = response.content.decode()
    assert card_ids(html) == [rid]
    assert 'data-state="approved"' in html and "Approved" in html and "alice" in html and "budgeted in Q3" in html
    assert "<form" not in html
    request = DecisionRequest.objects.get(pk=rid)
    assert (request.status, request.decided_by, request.comment) == ("approved", ["alice"], "budgeted in Q3")
    assert Vote.objects.get(escalation_id=rid).via == "web"
    assert kinds(rid)[-2:] == ["escalation.vote", "escalation.approved"]
    assert AuditEvent.objects.get(request_id=rid, kind="escalation.approved").actor == "user:alice"


def test_denying_in_place_rejects(escalate, bob):
    rid = escalate()
    html = vote(signed_in(bob), rid, "deny", "unknown vendor").content.decode()
    assert 'data-state="rejected"' in html and "Rejected" in html
    assert DecisionRequest.objects.get(pk=rid).status == "rejected"
    assert kinds(rid)[-1] == "escalation.rejected"


def test_partial_vote_shows_progress_and_waits(two_person, escalate, alice, bob):
    rid = escalate(two_person)
    html = vote(signed_in(alice), rid, "approve").content.decode()
    assert 'data-state="pending"' in html
    assert "1 of 2" in html and "You approved. Waiting for 1 more approval." in html
    assert "<form" not in html  # a person counts once
    assert kinds(rid)[-1] == "escalation.vote"
    # bob still has his buttons, and sees alice's vote.
    page = signed_in(bob).get("/").content.decode()
    assert "1 of 2" in page and "alice approved" in page and "✓ Approve $47,000" in page


def test_late_vote_gets_409_and_the_card_as_decided(escalate, alice, bob):
    rid = escalate()
    vote(signed_in(alice), rid, "approve")
    before = AuditEvent.objects.count()
    response = vote(signed_in(bob), rid, "deny")
    assert response.status_code == 409
    html = response.content.decode()
    assert "Already decided" in html and 'data-state="approved"' in html
    assert DecisionRequest.objects.get(pk=rid).status == "approved"
    assert AuditEvent.objects.count() == before


def test_ineligible_person_gets_403_and_changes_nothing(escalate, charlie):
    rid = escalate()
    before = AuditEvent.objects.count()
    response = vote(signed_in(charlie), rid, "approve")
    assert response.status_code == 403
    assert "cannot answer" in response.content.decode()
    assert DecisionRequest.objects.get(pk=rid).status == "pending"
    assert not Vote.objects.filter(escalation_id=rid).exists()
    assert AuditEvent.objects.count() == before


def test_vote_needs_csrf(escalate, alice):
    rid = escalate()
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert vote(client, rid, "approve").status_code == 403
    assert DecisionRequest.objects.get(pk=rid).status == "pending"
    client.get("/")  # sets the CSRF cookie, as the page does
    token = client.cookies["csrftoken"].value
    assert vote(client, rid, "approve", HTTP_X_CSRFTOKEN=token).status_code == 200
    assert DecisionRequest.objects.get(pk=rid).status == "approved"


def test_bad_choice_is_refused(escalate, alice):
    rid = escalate()
    response = vote(signed_in(alice), rid, "maybe")
    assert response.status_code == 400
    assert DecisionRequest.objects.get(pk=rid).status == "pending"
    assert kinds(rid)[-1] == "escalation.opened"


def test_vote_without_javascript_redirects_back_to_the_queue(escalate, alice, bob):
    rid = escalate()
    response = signed_in(alice).post(f"/escalations/{rid}/vote", {"choice": "approve"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert DecisionRequest.objects.get(pk=rid).status == "approved"
    client = signed_in(bob)
    client.post(f"/escalations/{rid}/vote", {"choice": "deny"})
    assert "Already decided" in client.get("/").content.decode()


def test_vote_is_post_only(escalate, alice):
    assert signed_in(alice).get(f"/escalations/{escalate()}/vote").status_code == 405


def test_tripped_breakers_show_in_a_banner(procurement, alice):
    assert "is supervised" not in signed_in(alice).get("/").content.decode()
    breaker_trip(agent=procurement.agent, reason="5 violations within 10m (threshold 5)")
    html = signed_in(alice).get("/").content.decode()
    assert "procurement-bot is supervised" in html and "5 violations within 10m" in html
    assert AuditEvent.objects.filter(agent=procurement.agent, kind="breaker.tripped").exists()


def test_cards_endpoint_returns_the_list_alone(escalate, alice):
    rid = escalate()
    response = signed_in(alice).get("/queue/cards", **HTMX)
    html = response.content.decode()
    assert card_ids(html) == [rid]
    assert "<html" not in html and "ws-connect" not in html


def test_page_queries_do_not_grow_with_the_queue(make_agent, escalate, alice, django_assert_max_num_queries):
    agents = [make_agent(f"bot-{i}") for i in range(3)]
    client = signed_in(alice)
    escalate(agents[0])
    with CaptureQueriesContext(connection) as one:
        client.get("/")
    baseline = len(one)  # now: later requests clear the connection's query log
    for agent in agents:
        for n in range(4):
            escalate(agent, resource=f"vendor:new-{n}")
    # 13 cards from 3 agents: one more history query per extra agent, nothing per card.
    with django_assert_max_num_queries(baseline + 2):
        html = client.get("/").content.decode()
    assert len(card_ids(html)) == 13
