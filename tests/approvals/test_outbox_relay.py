"""Escalation side effects leave the request (governance/outbox.py): the decide only writes the
outbox row; a real Celery worker's relay delivers it (live queue push, the expiry's ETA task,
then the agent callback); a relay killed after its claim leaves the row to the next relay once
the lease ends; and an escalating decide makes no more Celery or Redis calls than an allow."""

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest
import redis.asyncio.connection
import redis.connection
from celery.app.task import Task
from channels.layers import get_channel_layer
from django.db import connection

from governance.models import AuditEvent, DecisionRequest, OutboxEvent
from tests.approvals.callback_receiver import CallbackReceiver
from tests.conftest import ROOT
from tests.waiting import wait_until
from webqueue import live

ALLOW = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 5, "currency": "USD"},
         "context": {"reasoning": "pens", "confidence": 0.9, "input_source": "user"}}
ESCALATE = {**ALLOW, "params": {"amount": 20000, "currency": "USD"}}


class QueueListener:
    """A socket's view of the live queue: a channel in the queue group, on the real Redis."""

    def __init__(self):
        self.layer = get_channel_layer()
        self.loop = live._push_loop()
        self.channel = self._run(self.layer.new_channel())
        self._run(self.layer.group_add(live.QUEUE_GROUP, self.channel))

    def _run(self, coroutine, timeout=10):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def next(self, timeout: float) -> dict:
        return self._run(asyncio.wait_for(self.layer.receive(self.channel), timeout), timeout + 1)

    def close(self):
        self._run(self.layer.group_discard(live.QUEUE_GROUP, self.channel))


@pytest.fixture
def listener(redis_url):
    queue = QueueListener()
    yield queue
    queue.close()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_workers_relay_delivers_an_escalations_side_effects(settings, celery_worker, callback_agent, make_agent,
                                                              listener):
    settings.AIRLOCK_OUTBOX = "relay"  # this process only writes rows
    worker = celery_worker(env={"AIRLOCK_OUTBOX": "relay"})
    with CallbackReceiver() as receiver:
        client = callback_agent(receiver.url, ttl="3s")
        receiver.secret = client.agent.callback_secret
        response = client.decide(ESCALATE)
        answered = time.monotonic()
        assert response.json()["decision"] == "escalate"
        rid = response.json()["id"]
        pushed = listener.next(timeout=10)  # the worker's relay pushed it, not this process
        latency = time.monotonic() - answered
        assert (pushed["event"], pushed["request_id"]) == ("opened", rid)
        # The relay scheduled the expiry's ETA task; the worker expired it; its escalation_resolved
        # went through the outbox again, and the relay enqueued the callback.
        [delivery] = receiver.wait_for(1, timeout=20)
    assert json.loads(delivery.body)["status"] == "expired", worker.log()
    assert DecisionRequest.objects.get(pk=rid).status == "expired"
    assert AuditEvent.objects.filter(request_id=rid, kind="escalation.expired").exists()
    assert listener.next(timeout=10)["event"] == "resolved"
    assert wait_until(lambda: not OutboxEvent.objects.exists(), 10), list(OutboxEvent.objects.values())
    # How soon, once warm (measured and printed, not asserted: a loaded machine must not fail it).
    other = make_agent("latency-bot")
    latencies = []
    for _ in range(9):
        rid = other.decide(ESCALATE).json()["id"]
        answered = time.monotonic()
        assert listener.next(timeout=10)["request_id"] == rid
        latencies.append((time.monotonic() - answered) * 1000)
    latencies.sort()
    print(f"\ndecide answered -> live push through the worker's relay: first {latency * 1000:.1f} ms, then p50 "
          f"{latencies[4]:.1f} ms, max {latencies[-1]:.1f} ms ({connection.vendor}, load {os.getloadavg()[0]:.1f})")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_relay_killed_after_its_claim_is_recovered_by_the_next(settings, celery_worker, make_agent, listener):
    settings.AIRLOCK_OUTBOX = "relay"
    rid = make_agent().decide(ESCALATE).json()["id"]
    [row] = OutboxEvent.objects.all()
    # A relay process claims the row (2 s lease) and is killed before delivering it.
    child = subprocess.run(
        [sys.executable, "-c",
         "import django, os, signal; django.setup();"
         "from governance.outbox import outbox_claim; print(len(outbox_claim()), flush=True);"
         "os.kill(os.getpid(), signal.SIGKILL)"],
        cwd=ROOT, capture_output=True, timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.subprocess_settings", "AIRLOCK_OUTBOX_LEASE": "2",
             "AIRLOCK_TEST_DB_NAME": str(connection.settings_dict["NAME"])},
    )
    assert child.returncode == -9 and child.stdout.strip() == b"1", child.stderr.decode()
    row.refresh_from_db()
    assert row.attempts == 1  # claimed, never delivered
    worker = celery_worker(env={"AIRLOCK_OUTBOX": "relay"})
    pushed = listener.next(timeout=15)  # after the dead relay's lease ends
    assert (pushed["event"], pushed["request_id"]) == ("opened", rid), worker.log()
    assert wait_until(lambda: not OutboxEvent.objects.exists(), 10)


class Calls:
    """Counts Celery sends and Redis commands (sync and asyncio clients) made in this process."""

    def __init__(self, monkeypatch):
        self.celery = self.redis = 0
        original_apply = Task.apply_async
        original_sync = redis.connection.AbstractConnection.send_packed_command
        original_async = redis.asyncio.connection.AbstractConnection.send_packed_command

        def apply_async(task, *args, **kwargs):
            self.celery += 1
            return original_apply(task, *args, **kwargs)

        def send_sync(conn, *args, **kwargs):
            self.redis += 1
            return original_sync(conn, *args, **kwargs)

        async def send_async(conn, *args, **kwargs):
            self.redis += 1
            return await original_async(conn, *args, **kwargs)

        monkeypatch.setattr(Task, "apply_async", apply_async)
        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", send_sync)
        monkeypatch.setattr(redis.asyncio.connection.AbstractConnection, "send_packed_command", send_async)

    def during(self, action) -> tuple[int, int]:
        before = (self.celery, self.redis)
        action()
        return self.celery - before[0], self.redis - before[1]


@pytest.mark.django_db(transaction=True)
def test_an_escalating_decide_calls_no_celery_and_no_redis(settings, make_agent, monkeypatch, redis_url):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # a real send to the broker, as in production
    settings.AIRLOCK_CELERY_MAX_ETA = 3600  # the expiry ETA task would be sent at open
    client = make_agent()
    calls = Calls(monkeypatch)

    def decide(body, expected):
        assert client.decide(body).json()["decision"] == expected

    decide(ALLOW, "allow")  # warm up
    settings.AIRLOCK_OUTBOX = "off"  # before the outbox: the receivers ran in the request
    before = calls.during(lambda: decide(ESCALATE, "escalate"))
    settings.AIRLOCK_OUTBOX = "relay"
    allow = calls.during(lambda: decide(ALLOW, "allow"))
    escalate = calls.during(lambda: decide(ESCALATE, "escalate"))
    assert before[0] >= 1 and before[1] > allow[1]  # the counters see the old path's calls
    assert escalate == allow  # no Celery send, no Redis command beyond what allow makes
    assert escalate[0] == 0
    assert OutboxEvent.objects.filter(event="escalation_opened").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["relay", "commit"])
def test_an_outbox_row_that_cannot_be_written_fails_the_decide_closed(settings, make_agent, monkeypatch, mode):
    """The escalation's event is written in the decide transaction: if it cannot be, nothing of
    the decision commits and the agent gets the 503 deny, never an allow."""
    from governance import outbox

    settings.AIRLOCK_OUTBOX = mode
    client = make_agent()
    monkeypatch.setattr(outbox, "TABLE", "governance_outbox_missing")  # a real database error
    response = client.decide(ESCALATE)
    assert response.status_code == 503
    assert response.json()["decision"] == "deny"
    assert response.json()["error"]["code"] == "governance_unavailable"
    assert not DecisionRequest.objects.filter(agent=client.agent).exists()
    monkeypatch.undo()
    assert client.decide(ALLOW).json()["decision"] == "allow"  # the connection is usable again
