"""Agent callbacks: signed POST of the request JSON on resolution, retried with backoff."""

import hashlib
import hmac
import json

import pytest

from approvals.callbacks import CallbackFailed, callback_backoff, callback_deliver
from approvals.services import approval_decide
from approvals.tasks import send_callback
from governance.models import AuditEvent
from tests.approvals.callback_receiver import CallbackReceiver
from tests.approvals.conftest import LARGE_ORDER

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    with CallbackReceiver() as server:
        yield server


def resolved(client, person, choice="approve"):
    rid = client.decide(LARGE_ORDER).json()["id"]
    approval_decide(request_id=rid, user=person, choice=choice, comment="ok")
    return rid


def test_it_posts_the_request_json_signed_over_timestamp_and_body(receiver, callback_agent, alice):
    client = callback_agent(receiver.url)
    receiver.secret = client.agent.callback_secret
    rid = resolved(client, alice)
    assert callback_deliver(request_id=rid) == 200
    [delivery] = receiver.deliveries
    assert delivery.signature_ok
    timestamp = delivery.headers["x-airlock-timestamp"]
    assert timestamp.isdigit()
    signed = f"{timestamp}.".encode() + delivery.body
    expected = hmac.new(client.agent.callback_secret.encode(), signed, hashlib.sha256).hexdigest()
    assert delivery.headers["x-airlock-signature"] == f"t={timestamp},v1={expected}"
    assert delivery.headers["content-type"] == "application/json"
    assert json.loads(delivery.body) == client.get(f"/api/v1/requests/{rid}").json()
    assert json.loads(delivery.body)["status"] == "approved"


def test_a_tampered_body_or_timestamp_does_not_verify(receiver, callback_agent, alice):
    from approvals.callbacks import callback_signature, callback_verify

    secret = callback_agent(receiver.url).agent.callback_secret
    body, t = b'{"status":"approved"}', 1_800_000_000
    good = callback_signature(secret, body, t)
    assert callback_verify(secret, body, good, now=t)
    assert not callback_verify(secret, b'{"status":"approved "}', good, now=t)
    assert not callback_verify("other-secret", body, good, now=t)
    # The timestamp is signed: moving it forward (to pass a freshness check) breaks the MAC.
    moved = good.replace(f"t={t}", f"t={t + 3600}")
    assert not callback_verify(secret, body, moved, now=t + 3600)
    assert not callback_verify(secret, body, "sha256=" + good.split("v1=")[1], now=t)  # old scheme
    assert not callback_verify(secret, body, "", now=t)


class FakeClock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_receiver_rejects_stale_and_replayed_callbacks(receiver, callback_agent, alice):
    """A captured delivery replayed later is refused: once by memory inside the window, then
    by the timestamp outside it; a fresh attempt of the same callback is accepted."""
    from approvals.callbacks import CallbackVerifier, callback_signature

    client = callback_agent(receiver.url)
    secret = client.agent.callback_secret
    receiver.secret = secret
    rid = resolved(client, alice)
    assert callback_deliver(request_id=rid) == 200
    [delivery] = receiver.deliveries
    header = delivery.headers["x-airlock-signature"]
    t = int(delivery.headers["x-airlock-timestamp"])
    clock = FakeClock(t + 1)
    verifier = CallbackVerifier(secret, clock=clock)

    assert verifier.check(delivery.body, header) is None  # genuine, first time
    assert verifier.check(delivery.body, header) == "replayed"
    clock.now = t + 299
    assert verifier.check(delivery.body, header) == "replayed"
    clock.now = t + 301
    assert verifier.check(delivery.body, header) == "stale timestamp"
    assert verifier.seen == {}  # forgotten once outside the window: memory stays bounded
    clock.now = t - 400
    assert verifier.check(delivery.body, header) == "stale timestamp"  # from the future
    clock.now = t + 60
    assert verifier.check(delivery.body, callback_signature(secret, delivery.body, t + 60)) is None  # a retry
    assert verifier.check(b'{"id":"x"}', header) == "bad signature"
    assert verifier.check(delivery.body, "v1=" + header.split("v1=")[1]) == "no timestamp"


def test_non_2xx_and_unreachable_receivers_fail(callback_agent, alice):
    with CallbackReceiver(script=[500]) as receiver:
        client = callback_agent(receiver.url)
        rid = resolved(client, alice)
        with pytest.raises(CallbackFailed, match="HTTP 500"):
            callback_deliver(request_id=rid)
    with pytest.raises(CallbackFailed):  # the server is gone now
        callback_deliver(request_id=rid)


def test_nothing_is_sent_without_a_url_or_while_pending(receiver, callback_agent, procurement, alice):
    assert callback_deliver(request_id=resolved(procurement, alice)) is None
    pending = callback_agent(receiver.url).decide(LARGE_ORDER).json()["id"]
    assert callback_deliver(request_id=pending) is None
    assert receiver.deliveries == []


def test_the_task_retries_after_a_failure_then_records_the_delivery(callback_agent, alice):
    with CallbackReceiver(script=[503]) as receiver:
        client = callback_agent(receiver.url)
        receiver.secret = client.agent.callback_secret
        rid = resolved(client, alice, "deny")
        send_callback.apply(args=[rid])  # eager: the retry runs at once, without the countdown
        first, second = receiver.deliveries
    assert first.signature_ok and second.signature_ok and first.body == second.body
    event = AuditEvent.objects.get(request_id=rid, kind="callback.delivered")
    assert event.payload["attempts"] == 2 and event.payload["status"] == "rejected"


def test_the_task_gives_up_after_the_last_retry(callback_agent, alice, settings):
    settings.AIRLOCK_CALLBACK_RETRIES = 2
    with CallbackReceiver(script=[500, 500, 500, 500]) as receiver:
        rid = resolved(callback_agent(receiver.url), alice)
        send_callback.apply(args=[rid])
        assert len(receiver.deliveries) == 3
    event = AuditEvent.objects.get(request_id=rid, kind="callback.failed")
    assert event.payload["attempts"] == 3 and event.payload["detail"] == "HTTP 500"


def test_backoff_doubles_and_is_capped(settings):
    settings.AIRLOCK_CALLBACK_BACKOFF = 2
    assert [callback_backoff(n) for n in range(5)] == [2, 4, 8, 16, 32]
    assert callback_backoff(20) == 600
