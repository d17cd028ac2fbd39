"""Escalation tiers, delegation and the max_pending flood guard, through the real services and
API (issue 13). Named people: alice (finance, first tier), oscar (oncall-sre, the on-call
tier after 5 minutes), charlie (engineering: eligible nowhere), and bob (finance) who is away."""

import io
from datetime import UTC, timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from approvals.eligibility import eligible_approvers, is_eligible
from approvals.models import Delegation, Escalation, EscalationStep, Vote
from approvals.routing import routing_due
from approvals.services import approval_decide
from approvals.tokens import personal_token_create
from governance.decide import DecideInput, decide
from governance.errors import Conflict, NotEligible
from governance.models import Agent, AuditEvent
from tests.approvals.conftest import person
from tests.conftest import bearer

ROUTED = """
agent: procurement-bot
approvers: [finance]
quorum: 1
escalation_ttl: 15m
tiers:
  - {after: 5m, approvers: [oncall-sre]}
breaker: {violations: 2, window: 10m}
max_pending: 2
capabilities:
  - action: purchase_order.create
    resources: ["vendor:*"]
    escalate_when: ["params.amount > 10000"]
"""
ORDER = DecideInput(action="purchase_order.create", resource="vendor:acme", params={"amount": 47000})


@pytest.fixture
def routed(make_agent):
    return make_agent(envelope=ROUTED)


@pytest.fixture
def oscar(db):
    return person("oscar", "oncall-sre")


def _escalate(agent_client, at) -> str:
    agent = Agent.objects.get(pk=agent_client.agent.pk)
    row, _ = decide(agent=agent, data=ORDER, now=at)
    assert row.decision == "escalate", row.reasons
    return str(row.id)


def test_a_tier_only_approver_is_refused_before_after_and_counts_after(routed, alice, oscar):
    start = timezone.now()
    request_id = _escalate(routed, start)
    escalation = Escalation.objects.get(pk=request_id)
    assert escalation.deadline == start + timedelta(minutes=15)
    assert list(EscalationStep.objects.filter(kind="tier").values_list("group", "due_at")) == [
        ("oncall-sre", start + timedelta(minutes=5))
    ]
    assert not is_eligible(oscar, escalation, start + timedelta(minutes=4, seconds=59))
    assert [u.username for u in eligible_approvers(escalation, start)] == ["alice"]

    # Through the approver API, before the tier's time: 403 and nothing recorded.
    token = personal_token_create(user=oscar)
    from rest_framework.test import APIClient

    api = APIClient()
    response = api.post(f"/api/v1/escalations/{request_id}/approve", {}, format="json", **bearer(token))
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "not_eligible"
    opens = (start + timedelta(minutes=5)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert f"your tier opens at {opens} UTC" in response.json()["error"]["message"]
    assert not Vote.objects.exists()

    # Still pending 5 minutes in: oncall-sre is eligible, and the deadline has not moved.
    with time_machine.travel(start + timedelta(minutes=5, seconds=1), tick=False):
        assert [u.username for u in eligible_approvers(escalation)] == ["alice", "oscar"]
        response = api.post(f"/api/v1/escalations/{request_id}/approve", {"comment": "on call: ok"},
                            format="json", **bearer(token))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    assert response.json()["decided_by"] == ["oscar"]
    escalation.refresh_from_db()
    assert escalation.deadline == start + timedelta(minutes=15)


def test_the_routing_sweep_opens_a_tier_once_and_audits_it(routed, alice, oscar, django_capture_on_commit_callbacks):
    from approvals.signals import escalation_tier_reached

    heard = []

    def hear(sender, **kwargs):
        heard.append(kwargs)

    escalation_tier_reached.connect(hear, dispatch_uid="test.tier")
    try:
        start = timezone.now() - timedelta(minutes=6)
        request_id = _escalate(routed, start)
        # The reminder (3 minutes before the deadline) is not due yet; the tier is.
        with django_capture_on_commit_callbacks(execute=True):
            assert routing_due(now=start + timedelta(minutes=4)) == 0
            assert routing_due(now=start + timedelta(minutes=5)) == 1
            assert routing_due(now=start + timedelta(minutes=5, seconds=2)) == 0
    finally:
        escalation_tier_reached.disconnect(dispatch_uid="test.tier")
    assert heard == [{"signal": escalation_tier_reached, "request_id": request_id, "tier": 1, "groups": ["oncall-sre"]}]
    event = AuditEvent.objects.get(kind="escalation.tier_opened")
    assert event.payload["groups"] == ["oncall-sre"] and event.payload["tier"] == 1


def test_the_reminder_is_sent_once_near_the_deadline(routed, alice, settings):
    settings.AIRLOCK_REMINDER_BEFORE = 180
    start = timezone.now() - timedelta(minutes=13)
    _escalate(routed, start)
    reminder = EscalationStep.objects.get(kind="reminder")
    assert reminder.due_at == start + timedelta(minutes=12)
    assert routing_due(now=start + timedelta(minutes=11, seconds=59)) == 1  # the tier (due at 5m) only
    assert not AuditEvent.objects.filter(kind="escalation.reminded").exists()
    assert routing_due(now=start + timedelta(minutes=12)) == 1
    assert AuditEvent.objects.filter(kind="escalation.reminded").count() == 1
    assert routing_due(now=start + timedelta(minutes=12, seconds=5)) == 0


def test_a_tier_at_or_after_the_deadline_is_refused_when_applied(make_agent):
    from governance.errors import InvalidInput
    from governance.services import envelope_apply

    make_agent(envelope=None)
    bad = ROUTED.replace("after: 5m", "after: 15m")
    with pytest.raises(InvalidInput, match=r"tiers\[0\]\.after: 15m is not before the escalation deadline"):
        envelope_apply(source=bad)


def test_a_delegation_counts_as_the_absent_person_and_ends_by_itself(routed, alice, bob, charlie):
    until = timezone.now() + timedelta(hours=2)
    out = io.StringIO()
    call_command("approver_delegate", "bob", "--to", "charlie", "--until", until.isoformat(), stdout=out)
    assert "charlie answers for bob" in out.getvalue()
    event = AuditEvent.objects.get(kind="approver.delegated")
    assert event.payload == {"username": "bob", "delegate": "charlie", "until": until.isoformat()}

    request_id = _escalate(routed, timezone.now())
    escalation = Escalation.objects.get(pk=request_id)
    assert is_eligible(charlie, escalation)
    outcome = approval_decide(request_id=request_id, user=charlie, choice="approve", comment="for bob", via="api")
    assert outcome.request.status == "approved"
    assert outcome.request.decided_by == ["charlie for bob"]
    assert outcome.vote.on_behalf_of == bob
    vote = AuditEvent.objects.get(kind="escalation.vote")
    assert vote.actor == "user:charlie" and vote.payload["on_behalf_of"] == "bob"

    # After `until`, charlie is nobody's delegate again: refused, nothing recorded.
    second = _escalate(routed, timezone.now())
    with time_machine.travel(until + timedelta(seconds=1), tick=False):
        with pytest.raises(NotEligible):
            approval_decide(request_id=second, user=charlie, choice="approve")
    assert Vote.objects.filter(escalation_id=second).count() == 0
    # The routing sweep records the end, once, in the audit trail.
    assert routing_due(now=until + timedelta(seconds=1)) == 0
    routing_due(now=until + timedelta(seconds=3))
    ended = AuditEvent.objects.get(kind="approver.delegation_ended")
    assert ended.payload == {"username": "bob", "delegate": "charlie", "until": until.isoformat()}
    assert Delegation.objects.get().cleared_at == until


def test_the_absent_person_and_their_delegate_count_once(make_agent, alice, bob, charlie):
    routed = make_agent(envelope=ROUTED.replace("quorum: 1", "quorum: 2"))
    call_command("approver_delegate", "bob", "--to", "charlie",
                 "--until", (timezone.now() + timedelta(days=1)).isoformat(), stdout=io.StringIO())
    request_id = _escalate(routed, timezone.now())
    approval_decide(request_id=request_id, user=charlie, choice="approve")
    with pytest.raises(Conflict) as caught:
        approval_decide(request_id=request_id, user=bob, choice="approve")
    assert caught.value.code == "already_voted"
    outcome = approval_decide(request_id=request_id, user=alice, choice="approve")
    assert outcome.request.decided_by == ["charlie for bob", "alice"]


def test_clearing_a_delegation_ends_it_now_and_is_audited(routed, bob, charlie):
    call_command("approver_delegate", "bob", "--to", "charlie",
                 "--until", (timezone.now() + timedelta(days=1)).isoformat(), stdout=io.StringIO())
    call_command("approver_delegate", "bob", "--clear", stdout=io.StringIO())
    assert Delegation.objects.get().cleared_at is not None
    assert AuditEvent.objects.filter(kind="approver.delegation_cleared").count() == 1
    request_id = _escalate(routed, timezone.now())
    assert not is_eligible(charlie, Escalation.objects.get(pk=request_id))


@pytest.mark.parametrize("args, message", [
    (["bob", "--to", "bob", "--until", "2099-01-01T00:00:00Z"], "themselves"),
    (["bob", "--to", "charlie", "--until", "2000-01-01T00:00:00Z"], "future"),
    (["bob", "--to", "charlie", "--until", "2099-01-01T00:00:00"], "time zone"),
    (["bob", "--to", "charlie", "--until", "soon"], "ISO"),
    (["bob", "--to", "nobody", "--until", "2027-01-01T00:00:00Z"], "no user"),
    (["bob"], "--to"),
])
def test_bad_delegations_are_refused_and_change_nothing(bob, charlie, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("approver_delegate", *args, stdout=io.StringIO())
    assert not Delegation.objects.exists()
    assert not AuditEvent.objects.filter(kind="approver.delegated").exists()


def test_a_review_flood_is_denied_as_a_violation_and_trips_the_breaker(routed, alice):
    now = timezone.now()
    first, second = (routed.decide({"action": "purchase_order.create", "resource": f"vendor:v{i}",
                                    "params": {"amount": 20000}}) for i in range(2))
    assert [first.json()["decision"], second.json()["decision"]] == ["escalate", "escalate"]
    flood = routed.decide({"action": "purchase_order.create", "resource": "vendor:v3", "params": {"amount": 20000}})
    body = flood.json()
    assert body["decision"] == "deny", body
    assert body["reasons"][0]["code"] == "review_flood"
    agent = Agent.objects.get(pk=routed.agent.pk)
    assert not agent.breaker_tripped  # one violation; the breaker wants 2
    # An allow-able request is not an escalation: the guard does not touch it.
    small = routed.decide({"action": "purchase_order.create", "resource": "vendor:v1", "params": {"amount": 5}})
    assert small.json()["decision"] == "allow"
    routed.decide({"action": "purchase_order.create", "resource": "vendor:v4", "params": {"amount": 20000}})
    agent.refresh_from_db()
    assert agent.breaker_tripped
    assert AuditEvent.objects.filter(kind="breaker.tripped").exists()
    # Once one is answered, there is room again (the breaker now makes everything escalate).
    approval_decide(request_id=first.json()["id"], user=alice, choice="deny")
    again = routed.decide({"action": "purchase_order.create", "resource": "vendor:v5", "params": {"amount": 1}})
    assert again.json()["decision"] == "escalate", again.json()
    assert now  # the clock was not injected: the API path is the one under test
