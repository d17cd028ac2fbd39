"""The audit append on an agent's chain is one statement on PostgreSQL (issue 16), and stays
correct when the head this process remembers is stale (another process appended, or the
transaction that wrote it rolled back)."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from governance import audit
from governance.audit import audit_record, audit_verify, chain_for
from governance.models import AuditChainHead, AuditEvent

pytestmark = pytest.mark.postgres


def append(agent, kind="test.event"):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        from governance.locks import lock_agent

        lock_agent(agent.pk)
        event = audit_record(kind=kind, actor="system:test", agent=agent, payload={"n": 1})
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    return event, statements[1:]  # after the agent's lock


def test_an_append_is_one_statement_once_the_head_is_known(postgres, make_agent):
    bot = make_agent("audit-bot", envelope=None).agent
    first, _ = append(bot)
    event, statements = append(bot)
    assert len(statements) == 1, statements
    assert statements[0].startswith("WITH head AS (UPDATE")
    assert event.seq == first.seq + 1 and event.prev_hash == first.hash
    head = AuditChainHead.objects.get(chain=chain_for(bot))
    assert (head.seq, head.hash) == (event.seq, event.hash)
    assert audit_verify() is None


def test_a_stale_head_is_detected_and_the_chain_stays_intact(postgres, make_agent):
    bot = make_agent("audit-bot", envelope=None).agent
    append(bot)
    # Another process appends: this process's remembered head is now one behind.
    remembered = audit._heads[chain_for(bot)]
    other, _ = append(bot)
    audit._heads[chain_for(bot)] = remembered
    event, statements = append(bot)
    assert event.seq == other.seq + 1 and event.prev_hash == other.hash
    assert len(statements) == 2  # the guarded try (which reads the head as it is), the append
    # A rolled-back append leaves the remembered head ahead of the row.
    with pytest.raises(RuntimeError), transaction.atomic():
        append(bot)
        raise RuntimeError("roll back")
    last, _ = append(bot)
    assert last.seq == event.seq + 1 and last.prev_hash == event.hash
    assert list(AuditEvent.objects.filter(chain=chain_for(bot)).order_by("seq").values_list("seq", flat=True)) == list(
        range(1, last.seq + 1))
    assert audit_verify() is None


def request_row(agent):
    from django.utils import timezone

    from governance.models import DecisionRequest

    return DecisionRequest(agent=agent, action="a", resource="r", params={}, context={}, digest="d",
                           decision="allow", status="allowed", reasons=[], risk={}, created_at=timezone.now())


def append_with_row(agent):
    from governance.locks import lock_agent
    from governance.models import DecisionRequest

    row = request_row(agent)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        lock_agent(agent.pk)
        event = audit_record(kind="decision.allow", actor="system:test", agent=agent, request_id=row.id, row=row)
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert DecisionRequest.objects.filter(pk=row.pk).count() == 1
    assert not row._state.adding and str(event.request_id) == str(row.id)
    return event, statements[1:]


def test_a_new_row_and_its_event_are_one_statement(postgres, make_agent):
    bot = make_agent("audit-bot", envelope=None).agent
    append_with_row(bot)  # the first append of this process reads the head: the row on its own
    event, statements = append_with_row(bot)
    assert len(statements) == 1, statements
    assert statements[0].startswith("WITH new_row AS (INSERT")
    # Stale head: the row is inserted once, by the guarded statement; the event by the second.
    remembered = audit._heads[chain_for(bot)]
    append(bot)
    audit._heads[chain_for(bot)] = remembered
    later, statements = append_with_row(bot)
    assert len(statements) == 2 and later.seq == event.seq + 2
    assert audit_verify() is None


def decide_statements(agent, action="purchase_order.create"):
    from governance.decide import DecideInput, decide

    with CaptureQueriesContext(connection) as queries:
        row, _ = decide(agent=agent, data=DecideInput(action, "vendor:staples", {"amount": 10, "currency": "USD"}, {}))
    return row, [q["sql"] for q in queries.captured_queries]


def test_decide_reads_the_head_with_the_agent_lock(postgres, make_agent):
    """Several web processes: the head this one remembers is behind whenever another appended
    last. Decide reads the head in the agent lock's statement, so its append is still the one
    guarded statement, without the locked re-read."""
    bot = make_agent("audit-bot").agent
    decide_statements(bot)
    remembered = audit._heads[chain_for(bot)]
    other, _ = append(bot)  # "another process"
    audit._heads[chain_for(bot)] = remembered
    row, statements = decide_statements(bot)
    assert row.decision == "allow"
    appends = [sql for sql in statements if sql.startswith(("WITH new_row AS (INSERT", "WITH head AS (UPDATE"))]
    assert len(appends) == 1 and not any(sql.startswith("SELECT seq, hash FROM") for sql in statements), statements
    event = AuditEvent.objects.get(request_id=row.id, kind=f"decision.{row.decision}")
    assert event.seq == other.seq + 1 and event.prev_hash == other.hash
    assert audit_verify() is None


def test_a_head_read_before_the_lock_wait_never_replaces_a_later_one(postgres, make_agent):
    """The lock statement's snapshot predates its wait: a head this process wrote while that
    statement waited is later than what it read, and stays the hint."""
    bot = make_agent("audit-bot", envelope=None).agent
    first, _ = append(bot)
    second, _ = append(bot)
    audit.head_seen(bot, f"{first.seq} {first.hash}")
    assert audit._heads[chain_for(bot)] == (second.seq, second.hash)
    audit._heads[chain_for(bot)] = (first.seq - 1, "stale")
    audit.head_seen(bot, f"{second.seq} {second.hash}")
    assert audit._heads[chain_for(bot)] == (second.seq, second.hash)
    audit.head_seen(bot, None)  # no head row yet: nothing to learn
    assert audit._heads[chain_for(bot)] == (second.seq, second.hash)


@pytest.mark.parametrize("head", ["remembered", "stale", "unknown"])
def test_an_escalations_rows_ride_on_its_audit_append(postgres, make_agent, settings, head):
    """The escalation, its groups, steps and outbox row are written by the statement appending
    "escalation.opened" (one round trip); exactly once whether the remembered head is right,
    behind (the second try writes only the event) or unknown (they run on their own first)."""
    from approvals.models import Escalation, EscalationGroup
    from governance.models import OutboxEvent

    settings.AIRLOCK_OUTBOX = "relay"
    bot = make_agent("audit-bot").agent
    decide_statements(bot)
    if head == "stale":
        remembered = audit._heads[chain_for(bot)]
        append(bot)
        audit._heads[chain_for(bot)] = remembered
    elif head == "unknown":
        audit._heads.pop(chain_for(bot))
    with CaptureQueriesContext(connection) as queries:
        from governance.decide import DecideInput, decide

        row, _ = decide(agent=bot, data=DecideInput("purchase_order.create", "vendor:staples",
                                                     {"amount": 20000, "currency": "USD"}, {}))
    assert row.decision == "escalate"
    statements = [q["sql"] for q in queries.captured_queries]
    riding = [sql for sql in statements if "INSERT INTO approvals_escalation " in sql]
    assert len(riding) == 1, statements
    if head != "unknown":
        assert "INSERT INTO governance_auditevent" in riding[0]
    opened = AuditEvent.objects.get(request_id=row.id, kind="escalation.opened")
    assert Escalation.objects.filter(pk=row.id).count() == 1
    assert list(EscalationGroup.objects.filter(escalation_id=row.id).values_list("name", flat=True)) == ["finance"]
    assert sum(json.loads(e.payload)["request_id"] == str(row.id) for e in OutboxEvent.objects.filter(event="escalation_opened")) == 1
    decision = AuditEvent.objects.get(request_id=row.id, kind="decision.escalate")
    assert opened.seq == decision.seq + 1
    assert audit_verify() is None


def test_a_violations_anomaly_and_breaker_count_ride_on_the_audit_appends(postgres, make_agent):
    """A violation writes its anomaly row in the decision's statement and reads the breaker's
    count in the statement appending "anomaly.recorded": two statements after the lock, as
    many as an allow's decision needs for its state question and its row."""
    from governance.models import Anomaly

    bot = make_agent("audit-bot").agent
    decide_statements(bot)
    row, statements = decide_statements(bot, action="wire_transfer.create")
    assert row.decision == "deny" and row.violation
    appends = [sql for sql in statements if sql.startswith("WITH ")]
    assert len(appends) == 2, statements
    assert 'INSERT INTO "governance_anomaly"' in appends[0] and "breaker_count AS" in appends[1]
    assert not any(sql.startswith(("INSERT INTO", "SELECT COUNT(*)")) for sql in statements), statements
    anomaly = Anomaly.objects.get(request_id=row.id)
    recorded = AuditEvent.objects.get(request_id=row.id, kind="anomaly.recorded")
    assert recorded.payload["anomaly"] == anomaly.pk and anomaly.details["request_id"] == str(row.id)
    assert audit_verify() is None
