"""The lock order is enforced (governance/locks.py): a lock requested out of order raises
before any SQL runs, on every database; in order, and re-taking a held lock, are fine."""

import pytest
from django.db import transaction

from approvals.services import approval_decide
from governance import locks
from governance.audit import audit_record
from governance.locks import LockOrderError
from tests.approvals.conftest import LARGE_ORDER, person

pytestmark = pytest.mark.django_db


def test_the_order_agent_sequence_escalation_chain_head_is_accepted(procurement):
    rid = procurement.decide(LARGE_ORDER).json()["id"]
    with transaction.atomic():
        locks.lock_agent(procurement.agent.pk)
        locks.lock_sequence_keys({locks.sequence_lock_key("resource", "x"): True})
        locks.lock_escalation(rid)
        audit_record(kind="test", actor="system:test", agent=procurement.agent)
        audit_record(kind="test", actor="system:test")  # "system" sorts after "agent:<id>"
        locks.lock_agent(procurement.agent.pk)  # held already: no new lock, no error


def test_an_agent_after_its_escalation_is_refused(procurement):
    rid = procurement.decide(LARGE_ORDER).json()["id"]
    with pytest.raises(LockOrderError, match="agent .* requested while holding escalation"), transaction.atomic():
        locks.lock_escalation(rid)
        locks.lock_agent(procurement.agent.pk)


def test_an_audit_event_on_an_agents_chain_after_another_chain_head_is_refused(procurement):
    # The deadlock of issue 9: a chain head first, then the agent row (the event's foreign key).
    with pytest.raises(LockOrderError, match="requested while holding audit chain head"), transaction.atomic():
        audit_record(kind="test", actor="system:test", chain="audit:first")
        audit_record(kind="test", actor="system:test", agent=procurement.agent)


def test_two_agents_only_in_ascending_order(make_agent):
    first, second = make_agent("first-bot"), make_agent("second-bot")
    with transaction.atomic():
        locks.lock_agent(first.agent.pk)
        locks.lock_agent(second.agent.pk)
    with pytest.raises(LockOrderError), transaction.atomic():
        locks.lock_agent(second.agent.pk)
        locks.lock_agent(first.agent.pk)


def test_the_record_ends_with_the_transaction(procurement):
    rid = procurement.decide(LARGE_ORDER).json()["id"]
    with transaction.atomic():
        locks.lock_escalation(rid)
    with transaction.atomic():  # a new transaction starts with nothing held
        locks.lock_agent(procurement.agent.pk)


def test_votes_take_the_agent_before_the_escalation(procurement):
    rid = procurement.decide(LARGE_ORDER).json()["id"]
    # Inside a transaction that already holds the escalation, the vote's agent lock is refused.
    with pytest.raises(LockOrderError), transaction.atomic():
        locks.lock_escalation(rid)
        approval_decide(request_id=rid, user=person("alice", "finance"), choice="approve")
    assert approval_decide(request_id=rid, user=person("bob", "finance"), choice="approve").vote
