"""Suspend and resume (admin actions, audited). A suspended agent is denied everything."""

import pytest

from governance.agents import agent_resume, agent_suspend
from governance.errors import Conflict, NotEligible
from governance.models import Agent, AuditEvent

pytestmark = pytest.mark.django_db

SMALL_ORDER = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 5}}


def test_suspended_agent_is_denied_and_resumed_agent_is_allowed(procurement, admin_user):
    agent_suspend(agent=procurement.agent, by=admin_user, reason="looping on refunds")
    assert Agent.objects.get(pk=procurement.agent.pk).status == "suspended"
    event = AuditEvent.objects.get(kind="agent.suspended", agent=procurement.agent)
    assert (event.actor, event.payload["reason"]) == ("user:admin", "looping on refunds")

    body = procurement.decide(SMALL_ORDER).json()
    assert (body["decision"], body["reasons"][0]["code"]) == ("deny", "agent_suspended")
    # A suspension is not the agent's violation: nothing to triage, nothing for the breaker.
    assert not procurement.agent.anomalies.exists()

    agent_resume(agent=procurement.agent, by=admin_user)
    assert AuditEvent.objects.filter(kind="agent.resumed", agent=procurement.agent, actor="user:admin").exists()
    assert procurement.decide(SMALL_ORDER).json()["decision"] == "allow"


def test_suspending_twice_is_a_conflict(procurement, admin_user):
    agent_suspend(agent=procurement.agent, by=admin_user)
    with pytest.raises(Conflict):
        agent_suspend(agent=procurement.agent, by=admin_user)
    agent_resume(agent=procurement.agent, by=admin_user)
    with pytest.raises(Conflict):
        agent_resume(agent=procurement.agent, by=admin_user)
    assert AuditEvent.objects.filter(kind="agent.suspended").count() == 1
    assert AuditEvent.objects.filter(kind="agent.resumed").count() == 1


def test_only_admins_suspend(procurement, alice):
    with pytest.raises(NotEligible):
        agent_suspend(agent=procurement.agent, by=alice)
    assert Agent.objects.get(pk=procurement.agent.pk).status == "active"
    assert not AuditEvent.objects.filter(kind="agent.suspended").exists()
