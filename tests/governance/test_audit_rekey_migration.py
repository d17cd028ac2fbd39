"""Upgrading from the first release (plain SHA-256 chains): migration 0004_audit_rekey re-keys
every intact chain under AUDIT_KEY, records that it did, and never launders a chain that
was already broken."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from governance.audit import audit_verify, legacy_event_hash
from governance.models import AuditChainHead, AuditEvent
from tests.governance.test_audit_tamper import (
    EVENTS,
    chain_of,
    plain_sha256,
    po,
    rewrite_chain,
    sql,
)

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = ("governance", "0003_params_gin")
REKEY = ("governance", "0004_audit_rekey")


def migrate(target) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(target if isinstance(target, list) else [target])


def applied(node) -> bool:
    return node in MigrationExecutor(connection).loader.applied_migrations


@pytest.fixture
def previous_release():
    """Rows are written with today's models (later releases added columns the first release's
    schema lacks) and rewritten to the first release's plain hashes; rekey_on_upgrade() then
    runs migration 0004 on them. The latest schema again afterwards."""
    yield
    if not applied(REKEY):
        migrate(REKEY)
    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes(), fake=True)


def set_aside_later_migrations() -> None:
    """The migrations after 0004 touch no audit table: only their records are set aside (fake),
    so 0004 can run for real, forwards or backwards, on the rows as they are."""
    MigrationExecutor(connection).migrate([REKEY], fake=True)


def rekey_on_upgrade() -> None:
    """Migration 0004 runs for real on rows that carry the first release's plain hashes."""
    set_aside_later_migrations()
    MigrationExecutor(connection).migrate([BEFORE], fake=True)
    migrate(REKEY)
    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes(), fake=True)


def legacy_intact(chain: str) -> bool:
    prev = "0" * 64
    for e in AuditEvent.objects.filter(chain=chain).order_by("seq"):
        digest = legacy_event_hash(chain=e.chain, seq=e.seq, prev_hash=prev, kind=e.kind, actor=e.actor,
                                   agent_id=e.agent_id, request_id=str(e.request_id) if e.request_id else None,
                                   payload=e.payload, created_at=e.created_at)
        if e.prev_hash != prev or e.hash != digest:
            return False
        prev = e.hash
    return AuditChainHead.objects.get(chain=chain).hash == prev


def test_chains_of_the_previous_release_verify_after_migrating(previous_release, make_agent):
    alpha, beta = make_agent("alpha-bot"), make_agent("beta-bot")
    for amount in (1, 2, 3):
        alpha.decide(po(amount))
        beta.decide(po(amount))
    # What the previous release stored: the same rows, plain SHA-256 hashes.
    for chain in (chain_of(alpha), chain_of(beta)):
        rewrite_chain(chain, plain_sha256)
        assert legacy_intact(chain)
    assert audit_verify() is not None  # plain hashes are not accepted any more...
    old_heads = {h.chain: h.hash for h in AuditChainHead.objects.all()}

    rekey_on_upgrade()

    assert audit_verify() is None  # ...and re-keyed, the same history verifies
    record = AuditEvent.objects.get(chain="system", kind="audit.rekeyed")
    assert record.actor == "system:migration" and record.payload["scheme"] == "hmac-sha256"
    assert record.payload["events"] == AuditEvent.objects.exclude(pk=record.pk).count()
    assert {c: s["old_head"] for c, s in record.payload["chains"].items()} == old_heads
    alpha.decide(po(4))  # appending continues on the re-keyed chain
    assert audit_verify() is None

    set_aside_later_migrations()
    migrate(BEFORE)  # and back: the previous release's plain chains again
    assert legacy_intact(chain_of(alpha)) and legacy_intact("system")
    assert AuditEvent.objects.filter(kind="audit.unkeyed").count() == 1


def test_a_chain_broken_before_the_upgrade_stays_broken_at_the_same_event(previous_release, make_agent):
    alpha, beta = make_agent("alpha-bot"), make_agent("beta-bot")
    for amount in (1, 2, 3):
        alpha.decide(po(amount))
        beta.decide(po(amount))
    for chain in (chain_of(alpha), chain_of(beta)):
        rewrite_chain(chain, plain_sha256)
    victim = AuditEvent.objects.filter(chain=chain_of(beta)).order_by("seq")[2]
    sql(f"UPDATE {EVENTS} SET payload = %s WHERE id = %s", ['{"forged": true}', victim.id])
    assert not legacy_intact(chain_of(beta))

    rekey_on_upgrade()

    broken = audit_verify()
    assert broken is not None and broken.event_id == victim.id
    assert audit_verify(chains=[chain_of(alpha)]) is None
    summary = AuditEvent.objects.get(kind="audit.rekeyed").payload["chains"][chain_of(beta)]
    assert f"event {victim.id}" in summary["break"] and summary["events"] == victim.seq - 1
