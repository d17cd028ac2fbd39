"""The deliveries outbox (approvals/deliveries.py): rows written with the state change, the
sweep re-sends what never got through, with backoff and a give-up point. Clock injected."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from approvals.deliveries import deliveries_sweep, delivery_backoff
from approvals.models import Delivery
from approvals.services import approval_decide
from approvals.tasks import send_callback
from governance.models import AuditEvent, OutboxEvent
from governance.outbox import outbox_drain
from tests.approvals.callback_receiver import CallbackReceiver
from tests.approvals.conftest import LARGE_ORDER

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def test_the_event_is_written_in_the_same_transaction_as_the_decision(callback_agent, alice, settings, monkeypatch):
    """The decision's transaction writes the outbox event that owes the callback (rolled back
    with it); the relay delivering the event writes the Delivery row before the task is sent."""
    settings.AIRLOCK_OUTBOX = "relay"  # only the explicit drain below delivers
    client = callback_agent("http://127.0.0.1:9/airlock")
    rid = client.decide(LARGE_ORDER).json()["id"]
    owed = OutboxEvent.objects.filter(event="escalation_resolved", payload__contains=rid)
    with pytest.raises(Boom), transaction.atomic():
        approval_decide(request_id=rid, user=alice, choice="approve", comment="ok")
        assert owed.exists()
        raise Boom  # the decision rolls back: so does the callback it owed
    assert not owed.exists()
    approval_decide(request_id=rid, user=alice, choice="approve", comment="ok")
    assert owed.count() == 1
    assert not Delivery.objects.filter(request_id=rid).exists()  # not before the relay runs
    row_when_sent = []
    monkeypatch.setattr(send_callback, "delay", lambda request_id: row_when_sent.append(
        Delivery.objects.filter(kind="callback", request_id=request_id).values_list("attempts", flat=True).first()))
    outbox_drain()
    assert row_when_sent == [0]  # the row existed, untried, when the task was enqueued
    row = Delivery.objects.get(kind="callback", request_id=rid)
    assert row.attempts == 0 and row.delivered_at is None and row.next_attempt_at > timezone.now()
    assert not owed.exists()


def test_no_callback_row_for_an_agent_without_a_url(procurement, alice):
    rid = procurement.decide(LARGE_ORDER).json()["id"]
    approval_decide(request_id=rid, user=alice, choice="deny", comment="no")
    assert not Delivery.objects.filter(kind="callback", request_id=rid).exists()


def test_long_backoffs_go_to_the_sweep_which_resends_until_delivered(callback_agent, alice, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.AIRLOCK_CALLBACK_BACKOFF = 2
    with CallbackReceiver(script=[500, 500, 500, 500, 502]) as receiver:
        client = callback_agent(receiver.url)
        receiver.secret = client.agent.callback_secret
        rid = client.decide(LARGE_ORDER).json()["id"]
        approval_decide(request_id=rid, user=alice, choice="approve", comment="ok")
        start = timezone.now()
        send_callback.apply(args=[rid])
        # Retries 2, 4, 8 s ran in Celery (eager); 16 s exceeds AIRLOCK_CELERY_MAX_ETA (15 s):
        # no long countdown is handed to the broker, the row says when to try again.
        assert len(receiver.deliveries) == 4
        row = Delivery.objects.get(kind="callback", request_id=rid)
        assert row.attempts == 4 and row.delivered_at is None and row.last_error == "HTTP 500"
        assert start + timedelta(seconds=15) < row.next_attempt_at < timezone.now() + timedelta(seconds=17)
        assert deliveries_sweep(timezone.now()) == 0  # not yet due
        assert deliveries_sweep(timezone.now() + timedelta(seconds=17)) == 1  # fails (502): next in 32 s
        assert len(receiver.deliveries) == 5
        assert deliveries_sweep(timezone.now() + timedelta(seconds=20)) == 0
        assert deliveries_sweep(timezone.now() + timedelta(seconds=60)) == 1  # 200
        assert len(receiver.deliveries) == 6 and all(d.signature_ok for d in receiver.deliveries)
    row.refresh_from_db()
    assert row.delivered_at is not None and row.attempts == 6
    event = AuditEvent.objects.get(request_id=rid, kind="callback.delivered")
    assert event.payload["attempts"] == 6
    assert deliveries_sweep(timezone.now() + timedelta(days=1)) == 0  # delivered: never again
    send_callback.apply(args=[rid])  # a duplicate message (broker redelivery): nothing sent
    assert AuditEvent.objects.filter(request_id=rid, kind="callback.delivered").count() == 1


def test_the_sweep_gives_up_after_the_last_attempt(callback_agent, alice, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.AIRLOCK_CALLBACK_RETRIES = 1
    settings.AIRLOCK_CALLBACK_BACKOFF = 60  # every retry left to the sweep
    with CallbackReceiver(script=[500] * 5) as receiver:
        rid = callback_agent(receiver.url).decide(LARGE_ORDER).json()["id"]
        approval_decide(request_id=rid, user=alice, choice="approve", comment="ok")
        send_callback.apply(args=[rid])
        assert len(receiver.deliveries) == 1
        assert deliveries_sweep(timezone.now() + timedelta(minutes=2)) == 1
        assert len(receiver.deliveries) == 2
    row = Delivery.objects.get(kind="callback", request_id=rid)
    assert row.gave_up_at is not None and row.delivered_at is None
    assert AuditEvent.objects.get(request_id=rid, kind="callback.failed").payload["attempts"] == 2
    assert deliveries_sweep(timezone.now() + timedelta(days=1)) == 0


def test_sweep_backoff_doubles_and_is_capped(settings):
    settings.AIRLOCK_DELIVERY_RESEND_AFTER = 30
    assert [delivery_backoff(n) for n in range(1, 6)] == [30, 60, 120, 240, 480]
    assert delivery_backoff(30) == 600
