"""Serve the agents' hot synchronous endpoints through Django's WSGI handler on a fixed
thread pool, inside the ASGI server; everything else stays on Django's ASGI handler.

Why: under ASGI, Django runs every synchronous view in a thread created for that request
and hops between the event loop and that thread several times per request. On the 2-core
development VM a Django 404 cost ~4.6 ms of CPU that way and ~0.5 ms through the WSGI
handler; POST /api/v1/decide ~11 ms against ~5.6 ms (bench/decide_http.py, --api).
decide and verify are plain synchronous request/response views, so running them the
WSGI way changes nothing they do: same URLconf, middleware, views and transactions.
Long-polls, pages and websockets keep the ASGI handler. Enabled by AIRLOCK_SYNC_API=1.

A body larger than AIRLOCK_MAX_BODY_BYTES is handed to the ASGI handler untouched (the
messages already read are replayed), so oversized requests get exactly the usual 413.
"""

import asyncio
import io
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

SYNC_PATHS = frozenset({"/api/v1/decide", "/api/v1/verify"})


def build_environ(scope: dict, body: bytes) -> dict:
    """The WSGI environ (PEP 3333) for an ASGI HTTP scope and its whole body."""
    script_name = scope.get("root_path", "")
    path = scope["path"]
    if script_name and path.startswith(script_name):
        path = path[len(script_name):]
    server = scope.get("server") or ("localhost", 80)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name.encode("utf-8").decode("latin-1"),
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if scope.get("client"):
        environ["REMOTE_ADDR"] = scope["client"][0]
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = name
        else:
            key = f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


class SyncPaths:
    """ASGI app: POSTs to `paths` run on `wsgi_app` in a thread pool, the rest on `asgi_app`."""

    def __init__(
        self, asgi_app: Callable, wsgi_app: Callable, *, paths=SYNC_PATHS, threads: int = 10, max_body: int = 65536
    ):
        self.asgi_app, self.wsgi_app, self.paths, self.max_body = asgi_app, wsgi_app, frozenset(paths), max_body
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="airlock-api")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            return await self.asgi_app(scope, receive, send)
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":  # the client went away
                return
            size += len(message.get("body", b""))
            if size > self.max_body:
                return await self.asgi_app(scope, _replay(messages, receive), send)
            if not message.get("more_body"):
                break
        body = b"".join(m.get("body", b"") for m in messages)
        loop = asyncio.get_running_loop()
        status, headers, content = await loop.run_in_executor(self.executor, self._run, build_environ(scope, body))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _run(self, environ: dict) -> tuple[int, list, bytes]:
        started: dict = {}

        def start_response(status: str, headers: list, exc_info=None):
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]

        result = self.wsgi_app(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # Django sends request_finished here: the DB connection goes back
        return started["status"], started["headers"], content


def _replay(messages: list, receive: Callable) -> Callable:
    pending = list(messages)

    async def replay():
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
