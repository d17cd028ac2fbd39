"""api/body_limit.py in isolation: the ASGI and WSGI wrappers, with fake apps."""

import asyncio
import io
import json

from django.conf import settings

from api.body_limit import BodyLimitApp, BodyLimitWSGI

LIMIT = settings.AIRLOCK_MAX_BODY_BYTES


def run_asgi(app, *, path="/api/v1/decide", headers=(), messages=(), method="POST"):
    scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
    pending, sent = list(messages), []
    reads = 0

    async def receive():
        nonlocal reads
        reads += 1
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, reads


def echo_app():
    seen = {}

    async def app(scope, receive, send):
        message = await receive()
        seen["body"], seen["headers"] = message["body"], dict(scope["headers"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app, seen


def test_chunked_body_is_handed_on_whole_with_its_length():
    app, seen = echo_app()
    chunks = [{"type": "http.request", "body": b'{"a":', "more_body": True},
              {"type": "http.request", "body": b" 1}", "more_body": False}]
    sent, _ = run_asgi(BodyLimitApp(app), headers=[(b"transfer-encoding", b"chunked")], messages=chunks)
    assert sent[0]["status"] == 200
    assert seen["body"] == b'{"a": 1}'
    assert seen["headers"][b"content-length"] == b"8"
    assert b"transfer-encoding" not in seen["headers"]


def test_reading_stops_at_the_limit():
    app, seen = echo_app()
    chunk = {"type": "http.request", "body": b"x" * 4096, "more_body": True}
    sent, reads = run_asgi(BodyLimitApp(app), messages=[chunk] * 1000)
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["error"]["code"] == "too_large"
    assert reads == LIMIT // 4096 + 1  # not one message past the limit
    assert seen == {}


def test_declared_length_over_the_limit_reads_nothing():
    app, seen = echo_app()
    sent, reads = run_asgi(BodyLimitApp(app), headers=[(b"content-length", str(LIMIT + 1).encode())],
                           messages=[{"type": "http.request", "body": b"x", "more_body": True}])
    assert sent[0]["status"] == 413 and reads == 0 and seen == {}


def test_an_exception_escaping_the_app_is_a_json_503_deny_under_the_api():
    async def broken(scope, receive, send):
        raise RuntimeError("bug")

    sent, _ = run_asgi(BodyLimitApp(broken), messages=[{"type": "http.request", "body": b""}])
    assert sent[0]["status"] == 503
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["decision"] == "deny"


def wsgi_call(app, environ):
    started = {}

    def start_response(status, headers, exc_info=None):
        started["status"], started["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return started, body


def test_wsgi_chunked_body_is_limited_and_given_its_length():
    seen = {}

    def app(environ, start_response):
        seen["length"] = environ["CONTENT_LENGTH"]
        seen["body"] = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        start_response("200 OK", [])
        return [b"ok"]

    base = {"PATH_INFO": "/api/v1/decide", "HTTP_TRANSFER_ENCODING": "chunked"}
    started, _ = wsgi_call(BodyLimitWSGI(app), {**base, "wsgi.input": io.BytesIO(b'{"a": 1}')})
    assert started["status"].startswith("200") and seen == {"length": "8", "body": b'{"a": 1}'}

    big = io.BytesIO(b"x" * (LIMIT * 10))
    started, body = wsgi_call(BodyLimitWSGI(app), {**base, "wsgi.input": big})
    assert started["status"].startswith("413")
    assert json.loads(body)["error"]["code"] == "too_large"
    assert big.tell() <= LIMIT + 1  # read no further than the limit


def test_wsgi_declared_length_over_the_limit_is_413():
    started, _ = wsgi_call(BodyLimitWSGI(lambda e, s: []), {"PATH_INFO": "/api/v1/decide",
                                                            "CONTENT_LENGTH": str(LIMIT + 1)})
    assert started["status"].startswith("413")
