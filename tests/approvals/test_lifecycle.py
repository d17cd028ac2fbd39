"""Escalation lifecycle (SPEC §6): eligibility, quorum, deny, expiry, terminal states."""

from datetime import timedelta

import pytest
from django.utils import timezone

from api.auth import AgentPrincipal
from approvals.eligibility import eligible_approvers, is_eligible
from approvals.models import Escalation, Vote
from approvals.services import approval_decide, escalation_expire, escalation_expire_due
from approvals.signals import escalation_resolved, vote_recorded
from governance.audit import audit_verify
from governance.errors import Conflict, InvalidInput, NotEligible, NotFound
from governance.models import AuditEvent, DecisionRequest
from tests.approvals.conftest import envelope_with

pytestmark = pytest.mark.django_db


def kinds(request_id) -> list[str]:
    return list(AuditEvent.objects.filter(request_id=request_id).order_by("id").values_list("kind", flat=True))


def row(request_id) -> DecisionRequest:
    return DecisionRequest.objects.get(pk=request_id)


@pytest.fixture
def two_person(make_agent):
    return make_agent("capex-bot", envelope_with(agent="capex-bot", quorum=2))


def test_quorum_of_one_is_approved_by_one_eligible_person(escalate, alice):
    rid = escalate()
    outcome = approval_decide(request_id=rid, user=alice, choice="approve", comment="budgeted", via="web")
    assert (outcome.resolved, outcome.status, outcome.approvals_count, outcome.quorum) == (True, "approved", 1, 1)
    request = row(rid)
    assert request.status == "approved"
    assert request.decided_by == ["alice"] and request.comment == "budgeted"
    assert request.decided_at is not None
    assert Escalation.objects.get(pk=rid).resolved_at == request.decided_at
    assert outcome.vote.via == "web" and outcome.vote.choice == "approve"
    assert kinds(rid) == ["decision.escalate", "escalation.opened", "escalation.vote", "escalation.approved"]
    approved = AuditEvent.objects.get(request_id=rid, kind="escalation.approved")
    assert approved.actor == "user:alice"
    assert approved.payload["decided_by"] == ["alice"]
    assert audit_verify() is None


def test_quorum_of_two_needs_two_different_people(two_person, escalate, alice, bob):
    rid = escalate(two_person)
    first = approval_decide(request_id=rid, user=alice, choice="approve", comment="ok", via="web")
    assert (first.resolved, first.status, first.approvals_count, first.quorum) == (False, "pending", 1, 2)
    assert row(rid).status == "pending"
    assert kinds(rid)[-1] == "escalation.vote"
    second = approval_decide(request_id=rid, user=bob, choice="approve", comment="fine", via="slack")
    assert (second.resolved, second.status, second.approvals_count) == (True, "approved", 2)
    request = row(rid)
    assert request.decided_by == ["alice", "bob"]
    assert request.comment == "alice: ok\nbob: fine"
    assert kinds(rid)[-3:] == ["escalation.vote", "escalation.vote", "escalation.approved"]


def test_a_person_counts_once(two_person, escalate, alice):
    rid = escalate(two_person)
    approval_decide(request_id=rid, user=alice, choice="approve")
    events = AuditEvent.objects.count()
    with pytest.raises(Conflict) as err:
        approval_decide(request_id=rid, user=alice, choice="approve", via="slack")
    assert err.value.code == "already_voted" and err.value.status == 409
    assert row(rid).status == "pending"
    assert Vote.objects.filter(escalation_id=rid).count() == 1
    assert AuditEvent.objects.count() == events


def test_any_eligible_deny_rejects_at_once(two_person, escalate, alice, bob):
    rid = escalate(two_person)
    approval_decide(request_id=rid, user=alice, choice="approve")
    outcome = approval_decide(request_id=rid, user=bob, choice="deny", comment="not in budget", via="api")
    assert (outcome.resolved, outcome.status) == (True, "rejected")
    request = row(rid)
    assert request.status == "rejected"
    assert request.decided_by == ["bob"] and request.comment == "not in budget"
    rejected = AuditEvent.objects.get(request_id=rid, kind="escalation.rejected")
    assert rejected.actor == "user:bob" and rejected.payload["via"] == "api"


def test_a_first_deny_rejects_even_with_quorum_two(two_person, escalate, bob):
    rid = escalate(two_person)
    assert approval_decide(request_id=rid, user=bob, choice="deny").status == "rejected"
    assert kinds(rid)[-2:] == ["escalation.vote", "escalation.rejected"]


def expire_now(rid):
    DecisionRequest.objects.filter(pk=rid).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert escalation_expire(request_id=rid) is True


@pytest.mark.parametrize("ending", ["approve", "deny", "expire"])
def test_terminal_states_never_change(escalate, alice, bob, admin, ending):
    rid = escalate()
    if ending == "expire":
        expire_now(rid)
    else:
        approval_decide(request_id=rid, user=alice, choice=ending)
    before = row(rid)
    events = AuditEvent.objects.count()
    for user, choice in [(bob, "approve"), (bob, "deny"), (admin, "approve"), (alice, "deny")]:
        with pytest.raises(Conflict) as err:
            approval_decide(request_id=rid, user=user, choice=choice)
        assert err.value.code == "already_decided"
        assert f"request is {before.status}" in err.value.message
    assert escalation_expire(request_id=rid, now=timezone.now() + timedelta(days=1)) is False
    after = row(rid)
    assert (after.status, after.decided_by, after.decided_at, after.comment) == (
        before.status, before.decided_by, before.decided_at, before.comment)
    assert AuditEvent.objects.count() == events


def test_an_agent_can_never_approve(escalate, procurement):
    rid = escalate()
    agent = AgentPrincipal(procurement.agent)
    assert not is_eligible(agent, Escalation.objects.get(pk=rid))
    with pytest.raises(NotEligible):
        approval_decide(request_id=rid, user=agent, choice="approve", via="api")
    assert row(rid).status == "pending"
    assert kinds(rid) == ["decision.escalate", "escalation.opened"]
    assert not Vote.objects.exists()


def test_an_ineligible_person_changes_nothing(escalate, charlie):
    rid = escalate()
    for choice in ("approve", "deny"):
        with pytest.raises(NotEligible) as err:
            approval_decide(request_id=rid, user=charlie, choice=choice)
        assert err.value.status == 403 and "finance" in err.value.message
    assert row(rid).status == "pending"
    assert kinds(rid) == ["decision.escalate", "escalation.opened"]
    assert not Vote.objects.exists()


def test_an_inactive_approver_is_not_eligible(escalate, alice):
    rid = escalate()
    alice.is_active = False
    alice.save()
    with pytest.raises(NotEligible):
        approval_decide(request_id=rid, user=alice, choice="approve")
    assert row(rid).status == "pending"


def test_staff_are_eligible_for_every_escalation(escalate, admin, alice, bob, charlie):
    rid = escalate()
    escalation = Escalation.objects.get(pk=rid)
    assert list(eligible_approvers(escalation).values_list("username", flat=True)) == ["admin", "alice", "bob"]
    assert approval_decide(request_id=rid, user=admin, choice="approve").status == "approved"
    assert AuditEvent.objects.get(request_id=rid, kind="escalation.approved").actor == "user:admin"


def test_capability_approver_groups_replace_the_envelope_ones(make_agent, alice, dave):
    source = envelope_with(agent="leads-bot").replace(
        "    escalate_on_novel: [resource]\n", "    escalate_on_novel: [resource]\n    approvers: [finance-leads]\n", 1
    )
    client = make_agent("leads-bot", source)
    body = client.decide({"action": "purchase_order.create", "resource": "vendor:acme-furniture",
                          "params": {"amount": 47000}}).json()
    escalation = Escalation.objects.get(pk=body["id"])
    assert escalation.approver_groups == ["finance-leads"]
    with pytest.raises(NotEligible):
        approval_decide(request_id=body["id"], user=alice, choice="approve")
    assert approval_decide(request_id=body["id"], user=dave, choice="approve").status == "approved"


def test_a_vote_after_the_deadline_loses_and_persists_the_expiry(escalate, alice):
    rid = escalate()
    later = row(rid).expires_at + timedelta(seconds=1)
    with pytest.raises(Conflict) as err:
        approval_decide(request_id=rid, user=alice, choice="approve", now=later)
    assert err.value.code == "already_decided" and "expired" in err.value.message
    request = row(rid)
    assert request.status == "expired" and request.decided_at == request.expires_at
    assert kinds(rid)[-1] == "escalation.expired"
    assert not Vote.objects.exists()


def test_expiry_waits_for_the_deadline_and_happens_once(escalate):
    rid = escalate()
    deadline = row(rid).expires_at
    assert escalation_expire(request_id=rid, now=deadline - timedelta(seconds=1)) is False
    assert row(rid).status == "pending"
    assert escalation_expire(request_id=rid, now=deadline + timedelta(seconds=2)) is True
    assert escalation_expire(request_id=rid, now=deadline + timedelta(seconds=3)) is False
    expired = AuditEvent.objects.get(request_id=rid, kind="escalation.expired")
    assert expired.actor == "system:expiry" and expired.payload["late_by_ms"] == 2000
    assert Escalation.objects.get(pk=rid).resolved_at == deadline + timedelta(seconds=2)


def test_sweep_expires_only_what_is_due(escalate):
    due, later = escalate(), escalate()
    DecisionRequest.objects.filter(pk=due).update(expires_at=timezone.now() - timedelta(seconds=5))
    assert escalation_expire_due() == 1
    assert (row(due).status, row(later).status) == ("expired", "pending")
    assert escalation_expire_due() == 0


def test_unknown_escalation_and_bad_input(escalate, alice, procurement):
    with pytest.raises(NotFound):
        approval_decide(request_id="8c7a3c5e-0000-4000-8000-000000000000", user=alice, choice="approve")
    with pytest.raises(NotFound):
        approval_decide(request_id="not-a-uuid", user=alice, choice="approve")
    allowed = procurement.decide({"action": "purchase_order.create", "resource": "vendor:staples",
                                  "params": {"amount": 5}}).json()
    with pytest.raises(NotFound):  # allowed at once: there is nothing to answer
        approval_decide(request_id=allowed["id"], user=alice, choice="approve")
    rid = escalate()
    with pytest.raises(InvalidInput):
        approval_decide(request_id=rid, user=alice, choice="maybe")
    with pytest.raises(InvalidInput):
        approval_decide(request_id=rid, user=alice, choice="approve", via="Not a channel!")
    assert row(rid).status == "pending"


def test_signals_fire_after_commit(two_person, escalate, alice, bob, django_capture_on_commit_callbacks):
    heard = []
    def on_vote(sender, **kw): heard.append(("vote", kw["request_id"]))  # noqa: E704
    def on_resolved(sender, **kw): heard.append(("resolved", kw["request_id"], kw["status"]))  # noqa: E704
    vote_recorded.connect(on_vote, dispatch_uid="t-vote")
    escalation_resolved.connect(on_resolved, dispatch_uid="t-res")
    try:
        rid = escalate(two_person)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            approval_decide(request_id=rid, user=alice, choice="approve")
        assert heard == []  # nothing before commit
        for callback in callbacks:
            callback()
        with django_capture_on_commit_callbacks(execute=True):
            approval_decide(request_id=rid, user=bob, choice="approve")
    finally:
        vote_recorded.disconnect(dispatch_uid="t-vote")
        escalation_resolved.disconnect(dispatch_uid="t-res")
    assert ("vote", rid) in heard and ("resolved", rid, "approved") in heard
