"""Agents page: list with health, create (token shown once), rotate, breaker reset, suspend/resume."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from governance.models import Agent, AgentToken, AuditEvent
from tests.adminui.conftest import htmx, last_event
from tests.conftest import AgentClient

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r"alk_[0-9a-f]{12}_[A-Za-z0-9_-]+")


def po(amount, vendor="vendor:staples"):
    return {"action": "purchase_order.create", "resource": vendor, "params": {"amount": amount},
            "context": {"confidence": 0.95, "input_source": "config"}}


def test_list_shows_status_mode_breaker_activity_and_violations(admin_client, procurement, make_agent):
    procurement.decide(po(500))
    procurement.decide(po(200000))  # deny_when: a violation
    procurement.decide({"action": "payroll.run", "resource": "org:all"})  # outside the envelope
    tripped = make_agent("pricing-bot")
    Agent.objects.filter(pk=tripped.agent.pk).update(breaker_tripped_at=timezone.now(), breaker_reason="5 violations in 10m")

    response = admin_client.get(reverse("adminui:agents"))
    assert response.status_code == 200
    rows = {row.agent.name: row for row in response.context["rows"]}
    assert rows["procurement-bot"].violations_24h == 2
    assert rows["procurement-bot"].mode == "enforce"
    assert rows["pricing-bot"].mode == "supervised" and rows["pricing-bot"].mode_why == "breaker"
    assert rows["pricing-bot"].violations_24h == 0
    html = response.content.decode()
    assert "tripped" in html and "supervised" in html
    assert rows["procurement-bot"].agent.last_seen_at is not None


def test_violations_older_than_a_day_are_not_counted(admin_client, procurement):
    procurement.decide(po(200000))
    from governance.models import DecisionRequest
    DecisionRequest.objects.update(created_at=timezone.now() - timedelta(hours=25))
    rows = admin_client.get(reverse("adminui:agents")).context["rows"]
    assert rows[0].violations_24h == 0


def test_create_agent_shows_token_once_and_it_works(admin_client, admin_user):
    response = admin_client.post(reverse("adminui:agents"), {"name": "deploy-bot", "description": "ships code"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    token = TOKEN.search(html).group(0)
    agent = Agent.objects.get(name="deploy-bot")
    assert agent.description == "ships code"
    assert agent.callback_secret == ""
    assert "Callback signing secret" not in html

    event = last_event("agent.created")
    assert event.actor == "user:admin"
    assert event.agent == agent
    assert event.payload["token_prefix"] == token.split("_")[1]

    # The token authenticates (no envelope yet, so the answer is a deny, not a 401).
    answer = AgentClient(agent, token).decide({"action": "deploy", "resource": "svc:api"})
    assert answer.status_code == 200
    assert answer.json()["reasons"][0]["code"] == "no_envelope"

    # ...and is never shown again.
    for url in (reverse("adminui:agent", args=["deploy-bot"]), reverse("adminui:agents")):
        assert token not in admin_client.get(url).content.decode()


def test_create_agent_with_callback_shows_its_secret_once(admin_client):
    response = admin_client.post(
        reverse("adminui:agents"), {"name": "hook-bot", "callback_url": "https://agents.example.com/airlock"}
    )
    agent = Agent.objects.get(name="hook-bot")
    assert len(agent.callback_secret) == 64
    html = response.content.decode()
    assert agent.callback_secret in html
    assert agent.callback_secret not in admin_client.get(reverse("adminui:agent", args=["hook-bot"])).content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "Bad Name"}, "lowercase"),
        ({"name": "procurement-bot"}, "already exists"),
        ({"name": "ok-bot", "callback_url": "not a url"}, "valid URL"),
    ],
)
def test_bad_agent_input_shows_the_error_and_creates_nothing(admin_client, procurement, data, message):
    agents, events = Agent.objects.count(), AuditEvent.objects.count()
    response = admin_client.post(reverse("adminui:agents"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Agent.objects.count() == agents
    assert AuditEvent.objects.count() == events


def test_rotate_shows_the_new_token_once_and_revokes_the_old(admin_client, procurement):
    assert procurement.decide(po(100)).status_code == 200
    response = admin_client.post(reverse("adminui:agent_rotate", args=["procurement-bot"]), **htmx())
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert 'id="agent-tokens"' in html and "<html" not in html  # the partial only
    new_token = TOKEN.search(html).group(0)

    assert procurement.decide(po(100)).status_code == 401
    assert AgentClient(procurement.agent, new_token).decide(po(100)).status_code == 200
    event = last_event("agent.token_rotated")
    assert event.actor == "user:admin"
    assert event.payload["token_prefix"] == new_token.split("_")[1]
    assert AgentToken.objects.filter(agent=procurement.agent, revoked_at__isnull=True).count() == 1
    assert new_token not in admin_client.get(reverse("adminui:agent", args=["procurement-bot"])).content.decode()


def test_rotate_without_htmx_shows_a_full_page(admin_client, procurement):
    response = admin_client.post(reverse("adminui:agent_rotate", args=["procurement-bot"]))
    assert response.status_code == 200
    assert "New token for procurement-bot" in response.content.decode()


def test_reset_breaker_returns_the_agent_to_enforce_mode(admin_client, procurement):
    Agent.objects.filter(pk=procurement.agent.pk).update(breaker_tripped_at=timezone.now(), breaker_reason="5 violations")
    assert procurement.decide(po(100)).json()["decision"] == "escalate"  # supervised

    response = admin_client.post(reverse("adminui:agent_breaker_reset", args=["procurement-bot"]), **htmx())
    assert response.status_code == 200
    assert "Breaker reset" in response.content.decode()
    procurement.agent.refresh_from_db()
    assert procurement.agent.breaker_tripped_at is None
    event = last_event("breaker.reset")
    assert event.actor == "user:admin" and event.agent == procurement.agent
    assert event.payload["reason"] == "5 violations"
    assert procurement.decide(po(100)).json()["decision"] == "allow"


def test_reset_of_a_closed_breaker_says_so_and_audits_nothing(admin_client, procurement):
    events = AuditEvent.objects.count()
    response = admin_client.post(reverse("adminui:agent_breaker_reset", args=["procurement-bot"]), **htmx())
    assert "is not tripped" in response.content.decode()
    assert AuditEvent.objects.count() == events


def test_suspend_denies_everything_until_resumed(admin_client, procurement):
    response = admin_client.post(
        reverse("adminui:agent_suspend", args=["procurement-bot"]), {"reason": "leaking data"}, **htmx()
    )
    assert response.status_code == 200
    procurement.agent.refresh_from_db()
    assert procurement.agent.status == "suspended"
    event = last_event("agent.suspended")
    assert event.actor == "user:admin" and event.payload["reason"] == "leaking data"
    answer = procurement.decide(po(100)).json()
    assert answer["decision"] == "deny" and answer["reasons"][0]["code"] == "agent_suspended"

    response = admin_client.post(reverse("adminui:agent_resume", args=["procurement-bot"]))
    assert response.status_code == 302  # without htmx: back to the agent page with a message
    procurement.agent.refresh_from_db()
    assert procurement.agent.status == "active"
    assert last_event("agent.resumed").actor == "user:admin"
    assert procurement.decide(po(100)).json()["decision"] == "allow"


def test_suspending_twice_is_refused(admin_client, procurement):
    admin_client.post(reverse("adminui:agent_suspend", args=["procurement-bot"]))
    events = AuditEvent.objects.count()
    response = admin_client.post(reverse("adminui:agent_suspend", args=["procurement-bot"]), **htmx())
    assert "already suspended" in response.content.decode()
    assert AuditEvent.objects.count() == events


def test_detail_shows_envelope_decisions_and_escalations(admin_client, procurement):
    procurement.decide(po(500))
    procurement.decide(po(47000, vendor="vendor:acme-furniture"))
    response = admin_client.get(reverse("adminui:agent", args=["procurement-bot"]))
    history = response.context["history"]
    assert [r.decision for r in history.decisions] == ["escalate", "allow"]
    assert [r.resource for r in history.escalations] == ["vendor:acme-furniture"]
    html = response.content.decode()
    assert "v1" in html and "orders from approved vendors" in html
    assert "finance · quorum 1" in html


def test_unknown_agent_is_404(admin_client):
    assert admin_client.get(reverse("adminui:agent", args=["nobody"])).status_code == 404
