"""Tamper evidence that holds against someone who can write the database (issue 9 point 7).

Before: the chain hash was a plain SHA-256 over canonical JSON, with no key and no anchor
outside the database, so deleting the last event and rolling the chain head back, or
rewriting every event with recomputed hashes, both passed `audit_verify`. Now every event
hash is an HMAC-SHA256 under AUDIT_KEY (not in the database), and `audit_checkpoint` writes
the chain heads to HMAC'd JSON Lines outside the database that `audit_verify` checks.
"""

import hashlib
import hmac
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from governance.audit import audit_record, audit_verify
from governance.canonical import canonical_json
from governance.models import AuditChainHead, AuditEvent

pytestmark = pytest.mark.django_db

EVENTS = AuditEvent._meta.db_table
HEADS = AuditChainHead._meta.db_table


def po(amount):
    return {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": amount}}


@pytest.fixture
def history(make_agent):
    alpha, beta = make_agent("alpha-bot"), make_agent("beta-bot")
    for amount in (1, 2, 3, 4):
        assert alpha.decide(po(amount)).status_code == 200
        assert beta.decide(po(amount)).status_code == 200
    return alpha, beta


def chain_of(client) -> str:
    return f"agent:{client.agent.pk}"


def sql(statement: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def body(event: AuditEvent, **changes) -> str:
    """The text the chain hash covers (the same fields, in the same canonical form)."""
    fields = {
        "chain": event.chain, "seq": event.seq, "prev": event.prev_hash, "kind": event.kind,
        "actor": event.actor, "agent": event.agent_id,
        "request": str(event.request_id) if event.request_id else None,
        "payload": event.payload, "at": event.created_at.isoformat(),
    }
    fields.update(changes)
    return canonical_json(fields)


def rewrite_chain(chain: str, digest, *, forge=lambda event: {}) -> int:
    """What an attacker with write access to the database does: change events, recompute
    every hash after them with `digest(text)`, move the chain head. Returns events rewritten."""
    prev, count = "0" * 64, 0
    for event in AuditEvent.objects.filter(chain=chain).order_by("seq"):
        changes = {"prev": prev, **forge(event)}
        new_hash = digest(body(event, **changes))
        payload = changes.get("payload", event.payload)
        sql(f"UPDATE {EVENTS} SET prev_hash = %s, hash = %s, payload = %s WHERE id = %s",
            [prev, new_hash, json.dumps(payload), event.id])
        prev, count = new_hash, count + 1
    sql(f"UPDATE {HEADS} SET hash = %s WHERE chain = %s", [prev, chain])
    return count


def plain_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def verify_command() -> str:
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


# --- the attacks ----------------------------------------------------------------------


def test_full_rewrite_with_recomputed_plain_hashes_is_detected(history, settings, tmp_path):
    """The reviewer rewrote 389 events and recomputed their (plain) hashes: verify passed."""
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "no-checkpoints-at-all")  # the key alone must catch it
    alpha, beta = history
    while AuditEvent.objects.count() < 389:
        audit_record(kind="note.added", actor="system:test", agent=alpha.agent, payload={"n": AuditEvent.objects.count()})
    rewritten = 0
    for chain in sorted(set(AuditEvent.objects.values_list("chain", flat=True))):
        rewritten += rewrite_chain(
            chain, plain_sha256,
            forge=lambda e: {"payload": {**e.payload, "reasons": [{"code": "pre_approved_by_cfo"}]}},
        )
    assert rewritten == AuditEvent.objects.count() == 389
    first = AuditEvent.objects.order_by("id").first()
    broken = audit_verify()
    assert broken is not None and broken.event_id == first.id
    assert "hash" in broken.problem
    with pytest.raises(CommandError) as caught:
        verify_command()
    assert f"event {first.id}" in str(caught.value)


def test_rewrite_under_another_key_is_detected(history, settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "none")
    alpha, _ = history
    wrong = b"k" * 48
    rewrite_chain(chain_of(alpha), lambda text: hmac.new(wrong, text.encode(), hashlib.sha256).hexdigest())
    broken = audit_verify()
    assert broken is not None and broken.chain == chain_of(alpha) and broken.seq == 1


def test_truncation_with_the_head_rolled_back_is_detected_by_the_checkpoint(history):
    """The reviewer deleted the last event and set the head to the one before: verify passed.
    Inside the database this is indistinguishable from a shorter history; the checkpoint
    written before it is not."""
    alpha, _ = history
    call_command("audit_checkpoint", stdout=io.StringIO())
    chain = chain_of(alpha)
    last, before = AuditEvent.objects.filter(chain=chain).order_by("-seq")[:2]
    sql(f"DELETE FROM {EVENTS} WHERE id = %s", [last.id])
    sql(f"UPDATE {HEADS} SET seq = %s, hash = %s WHERE chain = %s", [before.seq, before.hash, chain])
    broken = audit_verify()
    assert broken is not None and broken.chain == chain
    assert broken.seq == last.seq and "checkpoint" in broken.problem and "truncated" in broken.problem
    with pytest.raises(CommandError) as caught:
        verify_command()
    assert chain in str(caught.value)


def test_truncation_then_new_events_is_detected_at_the_checkpointed_seq(history):
    """Roll the chain back, then let new events grow it past the checkpoint again: the
    chain is long enough, but differs at the checkpointed seq."""
    alpha, _ = history
    chain = chain_of(alpha)
    call_command("audit_checkpoint", stdout=io.StringIO())
    events = list(AuditEvent.objects.filter(chain=chain).order_by("seq"))
    cut = events[-3]
    sql(f"DELETE FROM {EVENTS} WHERE chain = %s AND seq >= %s", [chain, cut.seq])
    sql(f"UPDATE {HEADS} SET seq = %s, hash = %s WHERE chain = %s", [cut.seq - 1, cut.prev_hash, chain])
    for amount in (5, 6, 7, 8):
        alpha.decide(po(amount))
    assert AuditEvent.objects.filter(chain=chain).count() > len(events)
    broken = audit_verify()
    checkpointed = AuditEvent.objects.get(chain=chain, seq=events[-1].seq)
    assert broken is not None and broken.event_id == checkpointed.id
    assert "checkpoint" in broken.problem


def test_a_whole_chain_deleted_is_detected_by_the_checkpoint(history):
    _, beta = history
    chain = chain_of(beta)
    call_command("audit_checkpoint", stdout=io.StringIO())
    sql(f"DELETE FROM {EVENTS} WHERE chain = %s", [chain])
    sql(f"DELETE FROM {HEADS} WHERE chain = %s", [chain])
    broken = audit_verify()
    assert broken is not None and broken.chain == chain and "truncated" in broken.problem


def test_edited_payload_is_detected_with_checkpoints(history):
    call_command("audit_checkpoint", stdout=io.StringIO())
    victim = AuditEvent.objects.filter(kind="decision.allow").order_by("id")[3]
    sql(f"UPDATE {EVENTS} SET payload = %s WHERE id = %s", ['{"risk": 0}', victim.id])
    broken = audit_verify()
    assert broken.event_id == victim.id and "edited" in broken.problem


def test_deleted_middle_event_is_detected_with_checkpoints(history):
    alpha, _ = history
    call_command("audit_checkpoint", stdout=io.StringIO())
    victim = AuditEvent.objects.filter(chain=chain_of(alpha)).order_by("seq")[3]
    following = AuditEvent.objects.get(chain=victim.chain, seq=victim.seq + 1)
    sql(f"DELETE FROM {EVENTS} WHERE id = %s", [victim.id])
    assert audit_verify().event_id == following.id


def test_intact_chains_with_checkpoints_verify(history):
    alpha, _ = history
    call_command("audit_checkpoint", stdout=io.StringIO())
    alpha.decide(po(9))  # growing past a checkpoint is fine
    call_command("audit_checkpoint", stdout=io.StringIO())
    alpha.decide(po(10))
    assert audit_verify() is None
    out = verify_command()
    assert "intact" in out and "checkpoint" in out
