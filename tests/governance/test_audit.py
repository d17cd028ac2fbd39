"""The audit trail is hash-chained per agent; audit_verify finds the first tampered event."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from governance.audit import audit_record, audit_verify
from governance.models import AuditEvent

pytestmark = pytest.mark.django_db


def po(amount):
    return {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": amount}}


@pytest.fixture
def history(make_agent):
    alpha, beta = make_agent("alpha-bot"), make_agent("beta-bot")
    for amount in (1, 2, 3):
        alpha.decide(po(amount))
        beta.decide(po(amount))
    return alpha, beta


def test_intact_chain_verifies(history):
    assert audit_verify() is None
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "intact" in out.getvalue()


def test_each_agent_has_its_own_chain(history):
    alpha, beta = history
    chains = set(AuditEvent.objects.values_list("chain", flat=True))
    assert {f"agent:{alpha.agent.pk}", f"agent:{beta.agent.pk}"} <= chains
    alpha_events = AuditEvent.objects.filter(chain=f"agent:{alpha.agent.pk}").order_by("seq")
    assert [e.seq for e in alpha_events] == list(range(1, alpha_events.count() + 1))
    for previous, event in zip(alpha_events, alpha_events[1:], strict=False):
        assert event.prev_hash == previous.hash


def test_editing_a_row_with_sql_is_detected_and_named(history):
    alpha, _ = history
    victim = AuditEvent.objects.filter(agent=alpha.agent, kind="decision.allow").order_by("seq")[1]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AuditEvent._meta.db_table} SET actor = %s WHERE id = %s", ["agent:someone-else", victim.id]
        )
    broken = audit_verify()
    assert broken is not None and broken.event_id == victim.id
    with pytest.raises(CommandError) as caught:
        call_command("audit_verify")
    assert f"event {victim.id}" in str(caught.value)


def test_editing_the_payload_is_detected(history):
    victim = AuditEvent.objects.filter(kind="decision.allow").order_by("id")[2]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {AuditEvent._meta.db_table} SET payload = %s WHERE id = %s", ['{"forged": true}', victim.id])
    assert audit_verify().event_id == victim.id


def test_deleting_a_row_is_detected(history):
    alpha, _ = history
    victim = AuditEvent.objects.filter(agent=alpha.agent).order_by("seq")[2]
    following = AuditEvent.objects.get(chain=victim.chain, seq=victim.seq + 1)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditEvent._meta.db_table} WHERE id = %s", [victim.id])
    assert audit_verify().event_id == following.id


def test_truncating_the_end_is_detected(history):
    alpha, _ = history
    last = AuditEvent.objects.filter(agent=alpha.agent).order_by("-seq").first()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditEvent._meta.db_table} WHERE id = %s", [last.id])
    broken = audit_verify()
    assert broken is not None and "truncated" in broken.problem


@pytest.mark.django_db(transaction=True)
def test_audit_record_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError):
        audit_record(kind="x", actor="y")
    with transaction.atomic():
        assert audit_record(kind="x", actor="y").seq >= 1


def test_export_writes_json_lines_oldest_first(history):
    out = io.StringIO()
    call_command("audit_export", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == AuditEvent.objects.count()
    assert [line["at"] for line in lines] == sorted(line["at"] for line in lines)
    assert {"id", "chain", "seq", "kind", "actor", "payload", "hash", "prev_hash"} <= set(lines[0])


def test_export_since_filters_and_bad_since_fails(history):
    last = AuditEvent.objects.order_by("-created_at").first()
    out = io.StringIO()
    call_command("audit_export", "--since", last.created_at.isoformat(), stdout=out)
    assert 1 <= len(out.getvalue().splitlines()) < AuditEvent.objects.count()
    with pytest.raises(CommandError):
        call_command("audit_export", "--since", "yesterday")
