"""ASGI front for long-polls: GET /api/v1/requests/{id}?wait=N is answered in the event loop.

Django's ASGI handler gives every in-flight request its own executor thread (asgiref's
ThreadSensitiveContext, used by sync middleware and signals), so an async Django view still
parks one OS thread per waiting agent. This wrapper answers long-polls before Django: each
waiter is a coroutine holding an asyncio.Event; DB reads use the long-poll pool (4 threads).
Every other request, and anything this does not recognise, goes to Django unchanged.
"""

import asyncio
import re
import uuid
from urllib.parse import parse_qs

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from api.errors import error_body
from api.longpoll import long_poll, render

# Same shape as Django's <uuid:...> path converter.
_PATH = re.compile(r"^/api/v1/requests/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
_SECURITY_HEADERS = [
    (b"content-type", b"application/json"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class LongPollApp:
    """Wraps the Django ASGI app; takes GET /api/v1/requests/{uuid} with a `wait` parameter."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root):]
            match = _PATH.match(path)
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            if match and "wait" in query:
                await self.answer(scope, receive, send, uuid.UUID(match.group(1)), query["wait"][-1])
                return
        await self.app(scope, receive, send)

    async def answer(self, scope, receive, send, request_id: uuid.UUID, raw_wait: str) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        domain, _port = split_domain_port(headers.get("host", ""))
        if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
            await self.respond(send, 400, error_body("bad_request", "invalid Host header"), {})
            return
        work = asyncio.ensure_future(long_poll(headers.get("authorization", ""), raw_wait, request_id))
        gone = asyncio.ensure_future(self.disconnected(receive))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not work.done():  # the agent hung up: stop waiting for it
            work.cancel()
            return
        await self.respond(send, *work.result())

    @staticmethod
    async def disconnected(receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    @staticmethod
    async def respond(send, status: int, body: dict, extra: dict) -> None:
        content = render(body)
        headers = [*_SECURITY_HEADERS, (b"content-length", str(len(content)).encode())]
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
