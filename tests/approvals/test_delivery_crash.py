"""Side effects survive a worker crash (issue 9, point 8), with a real Celery worker.

Before: acks_late with a 7-day visibility timeout and no outbox: a worker SIGKILLed while a
callback was in flight left the message unacknowledged for 7 days (0/2 re-sent in 90 s), and a
lost message was lost for good. Now the broker hands a dead worker's task to another worker
after AIRLOCK_CELERY_VISIBILITY_TIMEOUT (30 s), and the Delivery row lets the beat sweep re-send
what no message covers. Slow (a minute each): they run in the PostgreSQL pass only.
"""

import json
import time

import pytest

from approvals.models import Delivery
from approvals.services import approval_decide
from governance.models import AuditEvent
from tests.approvals.callback_receiver import CallbackReceiver
from tests.approvals.conftest import LARGE_ORDER
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.postgres]


def delivered(rid):
    return Delivery.objects.filter(kind="callback", request_id=rid, delivered_at__isnull=False).first()


def test_a_callback_in_flight_when_the_worker_is_killed_is_redelivered_within_a_minute(
    postgres, celery_worker, callback_agent, alice
):
    # The receiver holds the first POST open (past the kill), then answers 200.
    with CallbackReceiver(script=["sleep:3"]) as receiver:
        client = callback_agent(receiver.url)
        receiver.secret = client.agent.callback_secret
        first = celery_worker(beat=False)  # no beat: only the broker's redelivery can save it
        rid = client.decide(LARGE_ORDER).json()["id"]
        approval_decide(request_id=rid, user=alice, choice="approve", comment="ok")
        assert receiver.wait_for_arrivals(1, timeout=30), first.log()
        first.process.kill()  # SIGKILL mid-callback: no ack, no retry, no shutdown handler
        first.process.wait(10)
        killed_at = time.monotonic()
        assert delivered(rid) is None
        second = celery_worker(beat=False)
        arrivals = receiver.wait_for_arrivals(2, timeout=60 - (time.monotonic() - killed_at))
        redelivered_after = time.monotonic() - killed_at
        assert len(arrivals) >= 2, second.log()
        deliveries = receiver.wait_for(2, timeout=10)
        assert redelivered_after < 60
        assert deliveries[-1].signature_ok and json.loads(deliveries[-1].body)["status"] == "approved"
        assert wait_until(lambda: delivered(rid), 10), second.log()
    assert AuditEvent.objects.filter(request_id=rid, kind="callback.delivered").exists()
    print(f"\nkilled mid-callback: redelivered {redelivered_after:.1f} s after SIGKILL")


def test_a_lost_callback_message_is_resent_by_the_beat_sweep(postgres, celery_worker, callback_agent, alice, settings):
    settings.AIRLOCK_DELIVERY_RESEND_AFTER = 2
    with CallbackReceiver() as receiver:
        client = callback_agent(receiver.url)
        receiver.secret = client.agent.callback_secret
        rid = client.decide(LARGE_ORDER).json()["id"]
        approval_decide(request_id=rid, user=alice, choice="deny", comment="no")
        # Starting the first worker purges the queue: the task enqueued on commit is lost, as
        # if Redis had been flushed. Only the Delivery row remembers the callback is owed.
        worker = celery_worker(beat=True)
        started = time.monotonic()
        [delivery] = receiver.wait_for(1, timeout=40) or [None]
        assert delivery is not None, worker.log()
        assert delivery.signature_ok and json.loads(delivery.body)["status"] == "rejected"
        assert wait_until(lambda: delivered(rid), 10), worker.log()
        print(f"\nlost callback message: re-sent by the sweep after {time.monotonic() - started:.1f} s")
