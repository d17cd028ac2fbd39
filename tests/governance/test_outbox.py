"""The transactional outbox (governance/outbox.py), in-process on the real database: an event is
one row written in the caller's transaction, delivered by a drain (the relay's loop body), one
receiver at a time; a failing receiver alone is retried with backoff, then given up; a lease
keeps a claimed row from a second relay until it ends; two relays deliver each row once."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from governance import outbox
from governance.models import OutboxEvent

probe = Signal()
outbox.outbox_events_register(test_probe=probe)


@pytest.fixture
def relay_mode(settings):
    settings.AIRLOCK_OUTBOX = "relay"  # only the explicit drains below deliver
    settings.AIRLOCK_OUTBOX_MAX_ATTEMPTS = 3


@pytest.fixture
def received():
    calls: list[dict] = []
    lock = threading.Lock()

    def on_probe(sender, **kwargs):
        kwargs.pop("signal")
        with lock:
            calls.append(kwargs)

    probe.connect(on_probe, dispatch_uid="test.probe")
    yield calls
    probe.disconnect(dispatch_uid="test.probe")


pytestmark = pytest.mark.django_db(transaction=True)


def test_an_event_is_a_row_of_its_transaction_and_runs_only_when_drained(relay_mode, received):
    when = timezone.now()
    with transaction.atomic():
        outbox.outbox_send(probe, request_id="r-1", deadline=when)
        assert OutboxEvent.objects.filter(event="test_probe").count() == 1
    assert received == []  # committed, but nothing ran in this process
    assert outbox.outbox_drain() == 1
    assert received == [{"request_id": "r-1", "deadline": when.isoformat()}]
    assert not OutboxEvent.objects.exists()  # delivered rows are deleted


def test_a_rolled_back_transaction_leaves_no_event(relay_mode, received):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.outbox_send(probe, request_id="r-2")
        raise RuntimeError("the decision failed")
    assert not OutboxEvent.objects.exists()
    assert outbox.outbox_drain() == 0 and received == []


def test_commit_mode_delivers_the_transactions_own_rows_right_after_commit(settings, received):
    settings.AIRLOCK_OUTBOX = "relay"
    outbox.outbox_send(probe, request_id="someone else's")  # left to the relay
    settings.AIRLOCK_OUTBOX = "commit"
    with transaction.atomic():
        outbox.outbox_send(probe, request_id="r-3")
        assert received == []
    assert received == [{"request_id": "r-3"}]
    assert list(OutboxEvent.objects.values_list("payload", flat=True)) == ['{"request_id": "someone else\'s"}']


def test_a_failing_receiver_is_retried_alone_with_backoff_then_given_up(relay_mode, received, caplog):
    broken_calls = []

    def broken(sender, **kwargs):
        broken_calls.append(kwargs["request_id"])
        raise ConnectionError("broker down")

    probe.connect(broken, dispatch_uid="test.broken")
    try:
        outbox.outbox_send(probe, request_id="r-4")
        outbox.outbox_send(probe, request_id="r-5")
        assert outbox.outbox_drain() == 2
        # The healthy receiver ran for both rows, and the broken one did not stop the second.
        assert [c["request_id"] for c in received] == ["r-4", "r-5"]
        assert broken_calls == ["r-4", "r-5"]
        row = OutboxEvent.objects.get(payload__contains="r-4")
        assert row.attempts == 1 and "broken" in row.pending and "broker down" in row.last_error
        assert row.available_at > timezone.now()  # backoff: not due again at once
        assert outbox.outbox_drain() == 0
        # Retries (clock injected) run only the failed receiver, until the last attempt.
        for attempt in (2, 3):
            claimed = outbox.outbox_claim(now=timezone.now() + timedelta(seconds=outbox.BACKOFF_CAP + attempt))
            assert [r.attempts for r in claimed] == [attempt, attempt]
            for r in claimed:
                outbox.outbox_deliver(r)
        assert [c["request_id"] for c in received] == ["r-4", "r-5"]
        assert broken_calls == ["r-4", "r-5"] * 3
        assert OutboxEvent.objects.filter(gave_up_at__isnull=False).count() == 2
        assert "given up after 3 attempt(s)" in caplog.text
        assert outbox.outbox_claim(now=timezone.now() + timedelta(days=1)) == []
    finally:
        probe.disconnect(dispatch_uid="test.broken")


def test_a_claimed_row_waits_for_its_lease_then_is_claimed_again(relay_mode, received, settings):
    """A relay that died after claiming: nobody else delivers the row during the lease, the
    next relay does once it ends."""
    outbox.outbox_send(probe, request_id="r-6")
    now = timezone.now()
    assert outbox.outbox_due(now)
    [first] = outbox.outbox_claim(now=now)  # ...and the relay dies here
    assert not outbox.outbox_due(now)
    assert outbox.outbox_claim(now=now + timedelta(seconds=settings.AIRLOCK_OUTBOX_LEASE - 1)) == []
    [again] = outbox.outbox_claim(now=now + timedelta(seconds=settings.AIRLOCK_OUTBOX_LEASE + 1))
    assert (again.id, again.attempts) == (first.id, 2)
    outbox.outbox_deliver(again)
    assert received == [{"request_id": "r-6"}]


def test_two_relays_deliver_each_row_exactly_once(postgres, relay_mode, received):
    """Two relay threads, each on its own connection, racing on the same rows (SKIP LOCKED)."""
    with transaction.atomic():
        for i in range(300):
            outbox.outbox_send(probe, request_id=f"r-{i}")
    relays = [outbox.OutboxRelay(batch=7, poll=0.05).start() for _ in range(2)]
    try:
        deadline = time.monotonic() + 30
        while OutboxEvent.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        for relay in relays:
            relay.stop()
    ids = sorted(c["request_id"] for c in received)
    assert ids == sorted(f"r-{i}" for i in range(300))  # every row once: none lost, none twice
    assert not OutboxEvent.objects.exists()


def test_a_relay_thread_delivers_on_either_database(relay_mode, received):
    """PostgreSQL wakes it by NOTIFY; SQLite (development) by its poll."""
    relay = outbox.OutboxRelay().start()
    try:
        outbox.outbox_send(probe, request_id="r-p")
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        relay.stop()
    assert received == [{"request_id": "r-p"}]
    assert not OutboxEvent.objects.exists()


def test_the_notify_wakes_a_listening_relay_at_commit(postgres, relay_mode, received):
    relay = outbox.OutboxRelay(poll=30).start()  # the poll alone would take 30 s
    try:
        time.sleep(0.5)  # LISTENing
        committed = time.monotonic()
        with transaction.atomic():
            outbox.outbox_send(probe, request_id="r-n")
        while not received and time.monotonic() - committed < 10:
            time.sleep(0.005)
        latency = time.monotonic() - committed
    finally:
        relay.stop()
    assert received == [{"request_id": "r-n"}]
    assert latency < 10
    print(f"\ncommit -> delivery through NOTIFY: {latency * 1000:.1f} ms")


def test_an_outbox_that_cannot_be_written_fails_the_transaction(relay_mode, monkeypatch):
    monkeypatch.setattr(outbox, "TABLE", "governance_no_such_table")
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017, PT011 (the driver's error type)
        outbox.outbox_send(probe, request_id="r-7")
    assert connection.vendor in ("postgresql", "sqlite")
