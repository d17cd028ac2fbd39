"""AIRLOCK_SYNC_API: decide and verify served through Django's WSGI handler inside the ASGI
app answer exactly as the ASGI handler does; everything else still goes to ASGI."""

import asyncio
import json

import pytest
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application

from airlock.asgi_sync import SyncPaths
from governance.models import AuditEvent, DecisionRequest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def apps():
    asgi = get_asgi_application()
    return asgi, SyncPaths(asgi, get_wsgi_application(), threads=2, max_body=settings.AIRLOCK_MAX_BODY_BYTES)


def call(app, method: str, path: str, token: str, chunks: list[bytes], content_length: int | None = None):
    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode()),
               (b"content-type", b"application/json")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }
    inbox = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent = []

    async def receive():
        if inbox:
            return inbox.pop(0)
        await asyncio.Event().wait()  # the client stays connected; Django listens for a disconnect

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {name.lower(): value for name, value in start["headers"]}
    return start["status"], headers, json.loads(body) if body else None


def order(amount: int, key: str) -> bytes:
    return json.dumps({"action": "purchase_order.create", "resource": "vendor:staples",
                       "params": {"amount": amount, "currency": "USD"}, "idempotency_key": key}).encode()


def test_decide_answers_the_same_through_both_handlers(apps, procurement):
    asgi, sync = apps
    for app, key, amount in ((asgi, "via-asgi", 500), (sync, "via-wsgi", 500), (sync, "big", 200000)):
        body = order(amount, key)
        status, headers, answer = call(app, "POST", "/api/v1/decide", procurement.token, [body], len(body))
        assert status == 200
        assert headers[b"content-type"] == b"application/json", headers
        row = DecisionRequest.objects.get(idempotency_key=key)
        assert answer["id"] == str(row.id)
        assert answer["decision"] == ("allow" if amount == 500 else "deny")
        assert AuditEvent.objects.filter(request_id=row.id, kind=f"decision.{answer['decision']}").exists()
    via_asgi = DecisionRequest.objects.get(idempotency_key="via-asgi")
    via_wsgi = DecisionRequest.objects.get(idempotency_key="via-wsgi")
    assert (via_asgi.reasons, via_asgi.digest) == (via_wsgi.reasons, via_wsgi.digest)


def test_a_body_in_chunks_is_read_as_under_asgi(apps, procurement):
    answers = []
    for app, key in zip(apps, ("chunked-asgi", "chunked-wsgi"), strict=True):
        body = order(700, key)
        chunks = [body[:10], body[10:30], body[30:]]
        status, _h, answer = call(app, "POST", "/api/v1/decide", procurement.token, chunks, len(body))
        assert (status, answer["decision"]) == (200, "allow")
        # Without Content-Length (chunked), DRF reads no body under either handler.
        answers.append(call(app, "POST", "/api/v1/decide", procurement.token, chunks))
    assert answers[0] == answers[1]
    assert answers[0][0] == 400
    assert DecisionRequest.objects.count() == 2


def test_an_oversized_body_gets_the_usual_413_and_creates_nothing(apps, procurement):
    _asgi, sync = apps
    big = b'{"action": "x", "params": {"pad": "' + b"a" * settings.AIRLOCK_MAX_BODY_BYTES + b'"}}'
    status, _h, answer = call(sync, "POST", "/api/v1/decide", procurement.token, [big[:1000], big[1000:]], len(big))
    assert status == 413
    assert answer["error"]["code"] == "too_large"
    assert not DecisionRequest.objects.exists()


def test_unknown_tokens_and_other_methods_answer_as_before(apps, procurement):
    _asgi, sync = apps
    body = order(5, "nope")
    status, _h, answer = call(sync, "POST", "/api/v1/decide", procurement.token + "x", [body], len(body))
    assert (status, answer["error"]["code"]) == (401, "unauthorized")
    status, _h, answer = call(sync, "GET", "/api/v1/decide", procurement.token, [b""])  # served by ASGI
    assert status == 405
    assert not DecisionRequest.objects.exists()
