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
