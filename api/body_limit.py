"""Request bodies limited WHILE they are read, in front of Django (ASGI and WSGI).

Django's ASGI handler reads the whole body (to a spooled file) before any middleware or view
runs, and a chunked body has no Content-Length to check: a 1,000 MB chunked POST without a
token was read whole before its 401, and a small chunked body reached DRF as empty (DRF reads
nothing without a Content-Length). So the limit lives here, around the application:

- a Content-Length over the limit is refused at once, before a byte of the body is read;
- otherwise the body is read here, counting bytes as they arrive, and refused as soon as it
  passes the limit (413, `Connection: close`: the rest is never read);
- a body within the limit is handed on whole with its true Content-Length (chunked or not).

Limits: AIRLOCK_MAX_BODY_BYTES under /api/ (413 in the API's JSON error shape),
DATA_UPLOAD_MAX_MEMORY_SIZE elsewhere (pages and forms).

The ASGI wrapper is also the API's last line: an exception that escapes the application
before it answered becomes a JSON 503 deny under /api/, never uvicorn's 500 text/plain.
"""

import io
import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import Error as DatabaseFailure

logger = logging.getLogger("airlock.api")

API_PREFIX = "/api/"


def _limit_for(path: str) -> int:
    if path.startswith(API_PREFIX):
        return settings.AIRLOCK_MAX_BODY_BYTES
    return max(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0, settings.AIRLOCK_MAX_BODY_BYTES)


def refusal(path: str, status: int, code: str, message: str, *, deny: bool = False) -> tuple[bytes, bytes]:
    """(body, content type) of an error answered here: JSON under /api/, plain text elsewhere."""
    if path.startswith(API_PREFIX):
        body = {"error": {"code": code, "message": message}}
        if deny:
            body["decision"] = "deny"
        return json.dumps(body).encode(), b"application/json"
    return message.encode(), b"text/plain; charset=utf-8"


def unavailable_body(exc: BaseException) -> tuple[str, str]:
    """(code, message) for an unexpected failure: the API's answer is deny either way."""
    if isinstance(exc, DatabaseFailure):
        return "governance_unavailable", f"decision store unavailable ({type(exc).__name__}); treat as deny"
    return "server_error", "internal error; treat as deny"


class BodyLimitApp:
    """ASGI middleware: enforce the body limits above, then call `app` with the whole body."""

    def __init__(self, app: Callable):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        limit = _limit_for(path)
        declared = None
        headers = []
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await self.refuse(send, path, 400, "invalid_request", "bad Content-Length")
            elif name == b"transfer-encoding":
                continue  # the body is handed on whole, with its length
            else:
                headers.append((name, value))
        if declared is not None and declared > limit:
            return await self.refuse(send, path, 413, "too_large", f"request body over {limit} bytes")

        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before the body was complete: nobody to answer
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                logger.warning("request body over %s bytes refused while reading", limit,
                               extra={"path": path, "method": scope.get("method")})
                return await self.refuse(send, path, 413, "too_large", f"request body over {limit} bytes")
            chunks.append(body)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if declared is not None or body or scope.get("method") not in ("GET", "HEAD", "OPTIONS"):
            headers.append((b"content-length", str(len(body)).encode()))
        scope = {**scope, "headers": headers}
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        started = False

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, replay, tracked_send)
        except Exception as exc:
            if started or not path.startswith(API_PREFIX):
                raise
            # Fail closed and answer in JSON: nothing was evaluated, so nothing was allowed.
            logger.exception("unhandled error under %s; answering 503 deny", path,
                             extra={"path": path, "method": scope.get("method")})
            code, message = unavailable_body(exc)
            await self.refuse(send, path, 503, code, message, deny=True)

    @staticmethod
    async def refuse(send, path: str, status: int, code: str, message: str, *, deny: bool = False) -> None:
        content, content_type = refusal(path, status, code, message, deny=deny)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", content_type),
            (b"content-length", str(len(content)).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"no-store"),
            # Whatever of the body is still on its way is never read: close the connection.
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": content})


class BodyLimitWSGI:
    """The same limits for a WSGI server (airlock/wsgi.py): Content-Length checked first,
    a chunked body read here up to the limit and handed on with its length."""

    def __init__(self, app: Callable):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        limit = _limit_for(path)
        raw_length = environ.get("CONTENT_LENGTH") or ""
        try:
            declared = int(raw_length) if raw_length.strip() else None
        except ValueError:
            return self.refuse(start_response, path, 400, "invalid_request", "bad Content-Length")
        if declared is not None and declared > limit:
            return self.refuse(start_response, path, 413, "too_large", f"request body over {limit} bytes")
        if declared is None and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            stream, chunks, size = environ["wsgi.input"], [], 0
            while True:
                part = stream.read(min(65536, limit + 1 - size))
                if not part:
                    break
                size += len(part)
                if size > limit:
                    return self.refuse(start_response, path, 413, "too_large", f"request body over {limit} bytes")
                chunks.append(part)
            body = b"".join(chunks)
            environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)

    @staticmethod
    def refuse(start_response, path: str, status: int, code: str, message: str):
        content, content_type = refusal(path, status, code, message)
        reason = {400: "Bad Request", 413: "Request Entity Too Large"}[status]
        start_response(f"{status} {reason}", [
            ("Content-Type", content_type.decode()), ("Content-Length", str(len(content))),
            ("Connection", "close"),
        ])
        return [content]
