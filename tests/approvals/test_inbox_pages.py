"""Issue 12 in the web UI (server side): the escalation's page, "decided by me", the inbox's
filters / search / true total / paging, web extend, approve with edits, batch, a signed-out
tab's vote, and cards that state the impact in words."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client

from approvals.models import Vote
from approvals.services import approval_decide
from governance.models import AuditEvent, DecisionRequest
from tests.approvals.conftest import LARGE_ORDER, envelope_with
from tests.conftest import ENVELOPES

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def row_ids(html: str) -> list[str]:
    return re.findall(r'<article id="esc-([0-9a-f-]{36})"', html)


# The escalation's page -------------------------------------------------------------------------

def test_the_page_is_200_for_approvers_and_staff_and_404_for_anyone_else(escalate, alice, charlie, admin, client):
    rid = escalate()
    assert signed_in(alice).get(f"/escalations/{rid}/").status_code == 200
    assert signed_in(admin).get(f"/escalations/{rid}/").status_code == 200
    assert signed_in(charlie).get(f"/escalations/{rid}/").status_code == 404
    assert signed_in(alice).get("/escalations/00000000-0000-4000-8000-000000000000/").status_code == 404
    anonymous = client.get(f"/escalations/{rid}/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_a_rows_full_card_is_fetched_on_expand_and_only_by_those_who_may_see_it(escalate, alice, charlie, admin, client):
    rid = escalate()
    row = signed_in(alice).get("/").content.decode()
    assert f'data-more="/escalations/{rid}/card"' in row and "Why you are asked" not in row
    for person in (alice, admin):
        card = signed_in(person).get(f"/escalations/{rid}/card")
        assert card.status_code == 200
        assert "Why you are asked" in card.content.decode() and "data-more=" not in card.content.decode()
    assert signed_in(charlie).get(f"/escalations/{rid}/card").status_code == 404
    assert signed_in(alice).get("/escalations/00000000-0000-4000-8000-000000000000/card").status_code == 404
    assert client.get(f"/escalations/{rid}/card").status_code == 302


def test_the_page_shows_votes_audit_history_and_stays_after_the_decision(make_agent, escalate, alice, bob, settings):
    settings.AIRLOCK_BASE_URL = "https://airlock.example.com"
    capex = make_agent("capex-bot", envelope_with(agent="capex-bot", quorum=2))
    earlier = escalate(capex)
    rid = escalate(capex)
    approval_decide(request_id=rid, user=alice, choice="approve", comment="in budget", via="slack")
    approval_decide(request_id=rid, user=bob, choice="approve", comment="agreed", via="api")
    html = signed_in(alice).get(f"/escalations/{rid}/").content.decode()
    votes = html[html.index('id="votes"'):html.index('id="audit"')]
    assert "alice" in votes and "in budget" in votes and "slack" in votes
    assert "bob" in votes and "agreed" in votes and ">api<" in votes
    audit = html[html.index('id="audit"'):html.index('id="history"')]
    for kind in ("decision.escalate", "escalation.opened", "escalation.vote", "escalation.approved"):
        assert kind in audit
    assert "purchase_order.create" in html[html.index('id="history"'):]
    assert f"https://airlock.example.com/escalations/{rid}/" in html
    assert 'id="more-actions"' in html
    assert earlier != rid


def test_the_page_shows_the_earlier_steps_of_a_chain(make_agent, admin):
    netops, deployer, dns = (make_agent(n, f"{n}.yaml") for n in ("netops-bot", "deploy-bot", "dns-bot"))
    t0 = datetime(2026, 11, 18, 13, 0, tzinfo=UTC)
    with time_machine.travel(t0, tick=False):
        netops.decide({"action": "security_group.update", "resource": "service:billing-api", "params": {"port": 443, "cidr": "0.0.0.0/0"}})
    with time_machine.travel(t0 + timedelta(minutes=5), tick=False):
        deployer.decide({"action": "service.deploy", "resource": "service:billing-api",
                         "params": {"version": "1.4.2", "tests": {"passed": True, "retries": 0}}})
    with time_machine.travel(t0 + timedelta(minutes=10), tick=False):
        rid = dns.decide({"action": "dns.record.create", "resource": "service:billing-api",
                          "params": {"name": "billing.example.com"}}).json()["id"]
        html = signed_in(admin).get(f"/escalations/{rid}/").content.decode()
    chain = html[html.index('id="chain"'):html.index('id="votes"')]
    assert "netops-bot" in chain and "security_group.update" in chain
    assert "deploy-bot" in chain and "service.deploy" in chain
    assert "this request" in chain and chain.count("status-allowed") >= 2
    # The badge says why (a chain), not "low risk".
    row = html[html.index('class="esc-row"'):html.index('class="esc-body"') if 'class="esc-body"' in html else None]
    assert "Completes a chain" in row and "low risk" not in row.lower()


def test_decided_by_me_lists_my_votes_newest_first(escalate, alice, bob):
    first, second = escalate(), escalate()
    approval_decide(request_id=first, user=alice, choice="approve", comment="one")
    approval_decide(request_id=second, user=alice, choice="deny", comment="two")
    approval_decide(request_id=escalate(), user=bob, choice="deny", comment="not alice")
    html = signed_in(alice).get("/decided/").content.decode()
    assert html.index(f"/escalations/{second}/") < html.index(f"/escalations/{first}/")
    assert "not alice" not in html and ">2<" in html


# Web forms: extend, approve with edits, batch, signed out ----------------------------------------

def test_extend_from_the_page(escalate, alice):
    rid = escalate()
    before = DecisionRequest.objects.get(pk=rid).expires_at
    response = signed_in(alice).post(f"/escalations/{rid}/extend", {"by": "10m", "comment": "calling the vendor"})
    assert response.status_code == 302
    assert DecisionRequest.objects.get(pk=rid).expires_at - before == timedelta(minutes=10)
    event = AuditEvent.objects.get(request_id=rid, kind="escalation.extended")
    assert event.payload["comment"] == "calling the vendor" and event.actor == "user:alice"
    too_long = signed_in(alice).post(f"/escalations/{rid}/extend", {"by": "1h"}, follow=True)
    assert "Not extended" in too_long.content.decode()


def test_approve_with_edits_from_the_page(escalate, procurement, alice):
    rid = escalate()
    response = signed_in(alice).post(f"/escalations/{rid}/vote", {
        "choice": "approve", "edit": "1", "param.amount": "30,000", "param.currency": "USD",
        "comment": "trimmed", "return": "page"})
    assert response.status_code == 302 and response["Location"] == f"/escalations/{rid}/"
    row = DecisionRequest.objects.get(pk=rid)
    assert row.status == "approved" and row.approved_params == {"amount": 30000, "currency": "USD"}
    refused = escalate()
    signed_in(alice).post(f"/escalations/{refused}/vote", {"choice": "approve", "edit": "1", "param.amount": "500000"})
    assert DecisionRequest.objects.get(pk=refused).status == "pending"
    assert not Vote.objects.filter(escalation_id=refused).exists()


def test_batch_from_the_inbox(escalate, alice):
    ids = [escalate(), escalate()]
    decided = escalate()
    approval_decide(request_id=decided, user=alice, choice="deny", comment="no")
    response = signed_in(alice).post("/escalations/batch", {"ids": [*ids, decided], "choice": "approve", "comment": "ok"}, follow=True)
    html = response.content.decode()
    assert "Approved 2 of 3" in html and "already decided" in html
    assert set(DecisionRequest.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"approved"}
    assert all(AuditEvent.objects.get(request_id=i, kind="escalation.vote").payload["via"] == "web" for i in ids)


def test_a_vote_from_a_signed_out_tab_says_not_recorded_and_records_nothing(escalate, alice):
    rid = escalate()
    client = signed_in(alice)
    client.logout()
    response = client.post(f"/escalations/{rid}/vote", {"choice": "approve"}, **HTMX)
    assert response.status_code == 401
    assert "Not recorded — sign in again" in response.content.decode()
    assert "<form" not in response.content.decode()
    assert DecisionRequest.objects.get(pk=rid).status == "pending"
    assert not Vote.objects.filter(escalation_id=rid).exists()


# The inbox ---------------------------------------------------------------------------------------

@pytest.fixture
def many(make_agent, escalate):
    """30 from procurement-bot (finance) and 3 from capex-bot (finance, quorum 2)."""
    capex = make_agent("capex-bot", envelope_with(agent="capex-bot", quorum=2))
    ids = [escalate() for _ in range(30)]
    capex_ids = [escalate(capex, resource=f"vendor:capex-{i}") for i in range(3)]
    return ids, capex_ids


def test_the_inbox_shows_the_true_total_and_pages_past_the_first(many, alice):
    ids, capex_ids = many
    first = signed_in(alice).get("/").content.decode()
    assert 'data-total="33"' in first and len(row_ids(first)) == 25
    assert "Showing 1–25 of <b>33</b>" in first and "page=2" in first
    second = signed_in(alice).get("/?page=2").content.decode()
    assert len(row_ids(second)) == 8
    assert set(row_ids(first)) | set(row_ids(second)) == set(ids) | set(capex_ids)


def test_the_inbox_filters_and_searches(many, alice, bob):
    ids, capex_ids = many
    client = signed_in(alice)
    by_agent = client.get("/?agent=capex-bot").content.decode()
    assert set(row_ids(by_agent)) == set(capex_ids) and 'data-total="3"' in by_agent
    assert set(row_ids(client.get("/?q=capex-1").content.decode())) == {capex_ids[1]}
    assert len(row_ids(client.get("/?action=purchase_order.*").content.decode())) == 25
    assert row_ids(client.get("/?action=dns.record.create").content.decode()) == []
    assert 'data-total="0"' in client.get("/?group=engineering").content.decode()
    approval_decide(request_id=capex_ids[0], user=alice, choice="approve")
    mine = client.get("/?mine=1&agent=capex-bot").content.decode()
    assert set(row_ids(mine)) == set(capex_ids[1:])
    score = DecisionRequest.objects.get(pk=ids[0]).risk["score"]
    band = "high" if score >= 0.7 else "medium" if score >= 0.4 else "low"
    assert ids[0] in row_ids(client.get(f"/?risk={band}&page=1").content.decode()) + row_ids(client.get(f"/?risk={band}&page=2").content.decode())
    assert "Nothing matches" in client.get("/?q=no-such-thing").content.decode()


def test_each_row_is_compact_and_states_the_impact(procurement, escalate, alice):
    Group.objects.get_or_create(name="finance")
    rid = escalate(params={"amount": 47000, "currency": "EUR", "previous": {"amount": 12000}})
    client = signed_in(alice)
    html = client.get("/").content.decode()
    head = html[html.index(f'id="esc-{rid}"'):]
    head = head[:head.index('class="esc-body"')]
    # The row's details come with its full card, fetched when it is expanded.
    row = client.get(f"/escalations/{rid}/card").content.decode()
    assert "procurement-bot" in head and "purchase_order.create" in head and "€47,000" in head
    first = DecisionRequest.objects.get(pk=rid).reasons[0]
    assert first["message"] in head and first["code"] == "novel_value" and "First time" in head
    assert "amount over the 10,000 auto-approval limit" in row
    assert f'href="/escalations/{rid}/"' in head
    assert "€12,000</s> → <b class=\"to\">€47,000" in row
    assert 'data-confirm="Approve €47,000 for procurement-bot?"' in row
    # The key risk factors come before the buttons (a phone shows them first).
    assert row.index('class="key-factors"') < row.index('class="buttons"')


def test_a_cumulative_reason_is_a_sentence_in_the_requests_currency(procurement, alice):
    for _ in range(5):
        procurement.decide({**LARGE_ORDER, "resource": "vendor:staples", "params": {"amount": 9000, "currency": "USD"}})
    body = procurement.decide({**LARGE_ORDER, "resource": "vendor:staples", "params": {"amount": 9750, "currency": "USD"}}).json()
    assert body["status"] == "pending", body
    client = signed_in(alice)
    assert "$54,750 today against a $50,000 daily budget" in client.get("/").content.decode()  # the row
    html = client.get(f"/escalations/{body['id']}/card").content.decode()  # expanded
    assert "$54,750 today against a $50,000 daily budget" in html
    assert "cumulative_exceeded" in html


def test_card_paths_match_the_url_conf(escalate, alice):
    from django.urls import reverse

    from webqueue import cards

    rid = escalate()
    card = cards.card(alice, rid)
    assert card.page_path == reverse("escalation-detail", args=[rid])
    assert card.vote_path == reverse("escalation-vote", args=[rid])


def test_the_page_names_a_delegate_shows_the_outcome_and_offers_always_allow_to_staff(
        procurement, escalate, alice, charlie, admin):
    """What the other issues add to the escalation's page: a delegate's vote is named as such
    (issue 13), the agent's reported outcome (issue 14), and "Always allow this" for staff once
    approved (issue 17)."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    rid = escalate()
    call_command("approver_delegate", "alice", "--to", "charlie",
                 "--until", (timezone.now() + timedelta(hours=1)).isoformat(), stdout=__import__("io").StringIO())
    approval_decide(request_id=rid, user=charlie, choice="approve", comment="covering for alice", via="web")
    assert DecisionRequest.objects.get(pk=rid).status == "approved"
    before = signed_in(admin).get(f"/escalations/{rid}/").content.decode()
    assert 'id="outcome"' not in before
    reported = procurement.post(f"/api/v1/requests/{rid}/outcome",
                                {"status": "rolled_back", "detail": "vendor refused the order", "effects": {"po": "PO-7"}})
    assert reported.status_code == 200, reported.content
    html = signed_in(admin).get(f"/escalations/{rid}/").content.decode()
    votes = html[html.index('id="votes"'):html.index('id="audit"')]
    assert "charlie for alice" in votes
    outcome = html[html.index('id="outcome"'):html.index('id="votes"')]
    assert "rolled_back" in outcome and "vendor refused the order" in outcome and "PO-7" in outcome
    assert f"/admin/requests/{rid}/always-allow/" in html
    # An approver who is not staff sees the page without the admin's action.
    assert "always-allow" not in signed_in(alice).get(f"/escalations/{rid}/").content.decode()
def test_a_budget_in_one_currency_shows_other_currencies_as_such(make_agent, alice):
    """Issue 12: a USD budget counts USD and requests without a currency; a EUR order is not
    compared with it, and its card says so."""
    source = (ENVELOPES / "procurement-bot.yaml").read_text().replace(
        "per: 24h, over: escalate}", "per: 24h, over: escalate, currency: USD}")
    bot = make_agent(envelope=source)
    for _ in range(5):
        assert bot.decide({**LARGE_ORDER, "resource": "vendor:staples", "params": {"amount": 9000, "currency": "USD"}}).json()["status"] == "allowed"
    # No currency: counted as the budget's, so 45,000 + 9,750 is over it.
    over = bot.decide({**LARGE_ORDER, "resource": "vendor:staples", "params": {"amount": 9750}}).json()
    euro = bot.decide({**LARGE_ORDER, "resource": "vendor:staples", "params": {"amount": 10, "currency": "EUR"}}).json()
    assert over["status"] == "pending" and euro["status"] == "pending", (over, euro)
    html = signed_in(alice).get("/").content.decode()
    assert "$54,750 today against a $50,000 daily budget" in html
    row = html[html.index(f'id="esc-{euro["id"]}"'):]
    assert "Other currency" in row[:row.index('class="esc-body"')]
    card = signed_in(alice).get(f"/escalations/{euro['id']}/card").content.decode()  # expanded
    assert "EUR cannot be counted against the USD budget on amount" in card and "currency_mismatch" in card
