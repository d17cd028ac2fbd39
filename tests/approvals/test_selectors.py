"""Reads for the approvers' queue: visibility, urgency order, no N+1."""

from datetime import timedelta

import pytest
from django.utils import timezone

from api.auth import AgentPrincipal
from approvals.models import Escalation
from approvals.selectors import (
    agent_recent_history,
    pending_escalations,
    recent_breaker_trips,
    visible_escalation,
)
from approvals.services import approval_decide
from governance.models import DecisionRequest
from tests.approvals.conftest import envelope_with

pytestmark = pytest.mark.django_db


def test_pending_escalations_most_urgent_first(escalate, alice):
    first, second, third = escalate(), escalate(), escalate()
    now = timezone.now()
    DecisionRequest.objects.filter(pk=third).update(expires_at=now + timedelta(minutes=1))
    Escalation.objects.filter(pk=third).update(deadline=now + timedelta(minutes=1))
    Escalation.objects.filter(pk=first).update(deadline=now + timedelta(minutes=5))
    Escalation.objects.filter(pk=second).update(deadline=now + timedelta(minutes=9))
    assert [str(e.pk) for e in pending_escalations(alice)] == [third, first, second]


def test_only_what_the_person_may_answer(make_agent, escalate, alice, charlie, dave, admin, procurement):
    mine = escalate()
    leads = make_agent("leads-bot", envelope_with(agent="leads-bot", approvers="[finance-leads]"))
    theirs = escalate(leads)
    assert [str(e.pk) for e in pending_escalations(alice)] == [mine]
    assert [str(e.pk) for e in pending_escalations(dave)] == [theirs]
    assert list(pending_escalations(charlie)) == []
    assert {str(e.pk) for e in pending_escalations(admin)} == {mine, theirs}
    assert list(pending_escalations(AgentPrincipal(procurement.agent))) == []
    assert visible_escalation(alice, theirs) is None
    assert visible_escalation(dave, theirs).request.agent.name == "leads-bot"


def test_resolved_and_past_deadline_leave_the_queue(escalate, alice, bob):
    done, stale, live = escalate(), escalate(), escalate()
    approval_decide(request_id=done, user=bob, choice="deny")
    Escalation.objects.filter(pk=stale).update(deadline=timezone.now() - timedelta(seconds=1))
    assert [str(e.pk) for e in pending_escalations(alice)] == [live]
    assert visible_escalation(alice, done).request.status == "rejected"


def test_progress_and_my_vote_are_annotated(make_agent, escalate, alice, bob):
    two = make_agent("capex-bot", envelope_with(agent="capex-bot", quorum=2))
    rid = escalate(two)
    approval_decide(request_id=rid, user=alice, choice="approve")
    [mine] = pending_escalations(alice)
    assert (mine.approvals, mine.quorum, mine.my_vote) == (1, 2, "approve")
    [bobs] = pending_escalations(bob)
    assert bobs.my_vote is None


def test_the_queue_costs_the_same_queries_for_many_rows(escalate, alice, django_assert_num_queries):
    for _ in range(8):
        escalate()
    # 1 query for the page (groups are a subquery); request and agent come with it.
    with django_assert_num_queries(1):
        rows = list(pending_escalations(alice))
        assert {e.request.agent.name for e in rows} == {"procurement-bot"}
        assert all(e.request.params["amount"] == 47000 for e in rows)


def test_agent_recent_history_newest_first(escalate, procurement):
    ids = [escalate() for _ in range(3)]
    history = list(agent_recent_history(procurement.agent, limit=2))
    assert [str(r.pk) for r in history] == ids[::-1][:2]
    assert [str(r.pk) for r in agent_recent_history(procurement.agent, exclude=ids[-1])] == ids[-2::-1]


def test_recent_breaker_trips(procurement, make_agent):
    calm = make_agent("calm-bot")
    procurement.agent.breaker_tripped_at = timezone.now()
    procurement.agent.breaker_reason = "5 violations in 10m"
    procurement.agent.save()
    assert [a.name for a in recent_breaker_trips()] == ["procurement-bot"]
    assert calm.agent not in recent_breaker_trips()
