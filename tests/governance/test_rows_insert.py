"""rows.insert() stores exactly what Model.save() stores."""

from datetime import timedelta

import pytest
from django.db.models.signals import post_save
from django.forms.models import model_to_dict
from django.utils import timezone

from governance.models import AuditChainHead, DecisionRequest
from governance.rows import insert

pytestmark = pytest.mark.django_db


NOW = timezone.now()


def request_row(agent, key, now=NOW):
    return DecisionRequest(
        agent=agent, action="purchase_order.create", resource="vendor:ünïcode", idempotency_key=key,
        params={"amount": 47000.5, "tags": ["a", None, True], "nested": {"x": 1}},
        context={"reasoning": "chairs ✓", "confidence": 0.91}, digest="d" * 64, decision="escalate",
        status="pending", reasons=[{"code": "c", "message": "m", "rule": "r"}], risk={"score": 0.5, "factors": []},
        created_at=now, expires_at=now + timedelta(minutes=15), decided_by=[],
    )


def test_an_inserted_row_reads_back_like_a_saved_one(procurement):
    fast = insert(request_row(procurement.agent, "fast"))
    slow = request_row(procurement.agent, "slow")
    slow.save(force_insert=True)
    assert fast._state.adding is False
    fast_read, slow_read = DecisionRequest.objects.get(pk=fast.pk), DecisionRequest.objects.get(pk=slow.pk)
    skip = {"id", "idempotency_key"}
    as_dict = lambda row: {k: v for k, v in model_to_dict(row).items() if k not in skip}  # noqa: E731
    assert as_dict(fast_read) == as_dict(slow_read) == as_dict(fast)


def test_a_database_generated_id_is_returned(db):
    head = insert(AuditChainHead(chain="test:chain", seq=3, hash="h"))
    assert AuditChainHead.objects.get(chain="test:chain").seq == 3
    assert head.pk == "test:chain"


def test_save_receivers_still_hear_inserted_rows(procurement):
    heard = []

    def receiver(sender, instance, created, **kwargs):
        heard.append(created)

    post_save.connect(receiver, sender=DecisionRequest)
    try:
        insert(request_row(procurement.agent, "heard"))
    finally:
        post_save.disconnect(receiver, sender=DecisionRequest)
    assert heard == [True]


def test_a_listener_does_not_change_how_the_row_is_written(procurement, monkeypatch):
    """insert() used to fall back to save() whenever anything listened to save signals."""

    def no_save(self, *args, **kwargs):
        raise AssertionError("insert() took the save() path")

    heard = []
    monkeypatch.setattr(DecisionRequest, "save", no_save)
    post_save.connect(_heard := lambda sender, instance, **kw: heard.append(instance.pk), sender=DecisionRequest)
    try:
        row = insert(request_row(procurement.agent, "listened"))
    finally:
        post_save.disconnect(_heard, sender=DecisionRequest)
    assert heard == [row.pk]
    assert DecisionRequest.objects.filter(pk=row.pk).exists()


def test_the_fast_preparers_give_what_get_db_prep_save_gives(procurement):
    """rows._preparers skips Django's per-value chain for common types; every value must be the
    one save() would send (for Jsonb adapters: the same object and dumps)."""
    from django.db import connection

    from approvals.models import Escalation
    from governance.models import Anomaly, AuditEvent
    from governance.rows import _preparers, _statement

    def same(a, b):
        if hasattr(a, "obj") and hasattr(b, "obj"):  # psycopg's Jsonb wrapper
            return type(a) is type(b) and a.obj == b.obj
        return type(a) is type(b) and a == b

    request = request_row(procurement.agent, "prep")
    rows = [
        request,
        request_row(procurement.agent, None),
        AuditEvent(chain="agent:1", seq=70000, prev_hash="p", hash="h", kind="k", actor="a", agent=procurement.agent,
                   request_id=str(request.pk), payload={"a": [1, 2.5, None]}, created_at=NOW),
        AuditEvent(chain="system", seq=1, prev_hash="p", hash="h", kind="k", actor="a", payload=[], created_at=NOW),
        Anomaly(request=request, agent=procurement.agent, code="c", details={}, created_at=NOW),
        Escalation(request=request, quorum=2, approver_groups=["ops"], deadline=NOW, created_at=NOW),
    ]
    checked = 0
    for row in rows:
        fields, _sql, _columns = _statement(type(row))
        for field, prepare in zip(fields, _preparers(type(row)), strict=True):
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                continue  # Django's own pre_save stamps the time on each call: nothing fast to compare
            expected = field.get_db_prep_save(field.pre_save(row, True), connection)
            got = prepare(row)
            assert same(got, expected), (type(row).__name__, field.name, got, expected)
            checked += 1
    assert checked > 40
