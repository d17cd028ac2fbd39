"""GET /api/v1/requests/{id}?wait=N: long-poll without holding a thread or a DB connection.

How it waits: every resolution (vote, Slack, API, expiry; in any process) publishes the
request id on one Redis pub/sub channel after commit. Each event loop keeps ONE subscriber
connection (the hub) and wakes the asyncio.Events of the waiters for that id. A waiter holds
only an Event; its two short DB reads run in a small dedicated thread pool, so the number of
DB connections is bounded by that pool, not by the number of waiters. The deadline is a
timeout: at the deadline the read reports "expired" (effective_status) even with no worker.
If Redis is unreachable, waiters fall back to re-reading once a second.

Without `wait` (or wait=0) the request goes to the ordinary DRF view; the OpenAPI schema
describes that view, parameter `wait` included.
"""

import asyncio
import logging
import threading
import weakref
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from datetime import datetime

import redis
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import Error as DatabaseFailure
from django.db import close_old_connections, connections
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from api.auth import agent_for_token, bearer_token
from api.errors import error_body
from api.views import request_view
from governance.decide import effective_status
from governance.models import DecisionRequest
from governance.representations import request_json

logger = logging.getLogger("airlock.longpoll")

MAX_WAIT = 60
FALLBACK_POLL = 1.0  # seconds between re-reads while Redis is unreachable
# Waiters' DB reads run here: at most this many DB connections, however many agents wait.
DB_THREADS = 4
_DB = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="airlock-longpoll-db")


def longpoll_close_connections() -> None:
    """Close the DB connections the read threads keep (shutdown, tests dropping a database)."""
    barrier = threading.Barrier(DB_THREADS)

    def close() -> None:
        connections.close_all()
        barrier.wait(timeout=5)  # one call per thread: no thread takes two

    futures_wait([_DB.submit(close) for _ in range(DB_THREADS)])


def resolution_channel() -> str:
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "airlock")
    return f"{prefix}:request-resolved"


_publisher: redis.Redis | None = None


def resolution_publish(request_id) -> None:
    """Wake every waiter on this request, in every web process. Called after commit."""
    global _publisher
    if _publisher is None:
        _publisher = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    _publisher.publish(resolution_channel(), str(request_id))


class _Hub:
    """One Redis subscription per event loop, fanned out to in-process waiters."""

    def __init__(self) -> None:
        self.waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self.ready = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run(), name="airlock-longpoll-hub")

    def _wake(self, request_id: str) -> None:
        for event in self.waiters.get(request_id, ()):
            event.set()

    def _wake_all(self) -> None:
        for events in self.waiters.values():
            for event in events:
                event.set()

    async def _run(self) -> None:
        while True:
            client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(resolution_channel())
                    self.ready.set()
                    self._wake_all()  # anything published while we were not listening: re-check
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._wake(message["data"].decode())
            except (redis.RedisError, OSError) as exc:
                logger.warning("long-poll subscriber lost Redis (%s); waiters poll until it returns", exc)
            finally:
                self.ready.clear()
                await client.aclose()
            self._wake_all()
            await asyncio.sleep(1)

    @contextmanager
    def watch(self, request_id: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self.waiters[request_id].add(event)
        try:
            yield event
        finally:
            self.waiters[request_id].discard(event)
            if not self.waiters[request_id]:
                del self.waiters[request_id]


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub]" = weakref.WeakKeyDictionary()


def _hub() -> _Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.task.done():
        hub = _hubs[loop] = _Hub()
    return hub


def _read(agent_id: int, request_id) -> DecisionRequest | None:
    close_old_connections()  # these threads outlive requests: drop stale or broken connections
    return DecisionRequest.objects.filter(pk=request_id, agent_id=agent_id).first()


def _authenticate(token: str):
    close_old_connections()
    return agent_for_token(token)


_read_async = sync_to_async(_read, thread_sensitive=False, executor=_DB)
_authenticate_async = sync_to_async(_authenticate, thread_sensitive=False, executor=_DB)
_request_view_async = sync_to_async(request_view)


def parse_wait(raw: str) -> int | None:
    """Seconds to wait (0-60), or None when the value is not acceptable."""
    raw = raw.strip()
    # ASCII digits only: str.isdigit() also accepts "²" and "١", which int() then refuses.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 3:
        return None
    value = int(raw)
    return value if value <= MAX_WAIT else None


def _seconds_until(moment: datetime | None) -> float:
    if moment is None:
        return float("inf")
    return (moment - timezone.now()).total_seconds()


async def wait_for_decision(agent_id: int, request_id, wait: float) -> DecisionRequest | None:
    """The request once it leaves pending, at its deadline, or after `wait` seconds."""
    if wait <= 0:
        return await _read_async(agent_id, request_id)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + wait
    hub = _hub()
    with hub.watch(str(request_id)) as woken:
        # Subscribe before the first read: a resolution committed after it is always heard.
        if not hub.ready.is_set():
            try:
                await asyncio.wait_for(hub.ready.wait(), timeout=min(1.0, wait))
            except TimeoutError:
                pass
        row = await _read_async(agent_id, request_id)
        while row is not None and effective_status(row) == DecisionRequest.Status.PENDING:
            # A hair past the deadline so the re-read reports "expired".
            timeout = min(give_up - loop.time(), _seconds_until(row.expires_at) + 0.01)
            if not hub.ready.is_set():
                timeout = min(timeout, FALLBACK_POLL)
            if timeout <= 0:
                break
            try:
                await asyncio.wait_for(woken.wait(), timeout=timeout)
            except TimeoutError:
                pass
            woken.clear()
            row = await _read_async(agent_id, request_id)
            if loop.time() >= give_up:
                break
    return row


async def long_poll(authorization: str, raw_wait: str, request_id) -> tuple[int, dict, dict]:
    """(status, JSON body, extra headers) for GET /api/v1/requests/{id}?wait=N."""
    try:
        return await _long_poll(authorization, raw_wait, request_id)
    except DatabaseFailure as exc:
        # Token or request unreadable: the contract's 503 deny, not a 500.
        logger.warning("long-poll could not read the database (%s); answering 503 deny", type(exc).__name__,
                       extra={"request_id": str(request_id)})
        message = f"decision store unavailable ({type(exc).__name__}); treat as deny"
        return 503, {**error_body("governance_unavailable", message), "decision": "deny"}, {}


async def _long_poll(authorization: str, raw_wait: str, request_id) -> tuple[int, dict, dict]:
    token = bearer_token(authorization)
    agent = await _authenticate_async(token) if token else None
    if agent is None:
        message = "unknown or revoked token" if token else "an agent token is required"
        return 401, error_body("unauthorized", message), {"WWW-Authenticate": 'Bearer realm="airlock"'}
    wait = parse_wait(raw_wait)
    if wait is None:
        return 400, error_body("invalid_request", f"wait must be an integer from 0 to {MAX_WAIT}"), {}
    row = await wait_for_decision(agent.pk, request_id, wait)
    if row is None:
        return 404, error_body("not_found", "no such request"), {}
    return 200, request_json(row), {}


def render(body: dict) -> bytes:
    return JSONRenderer().render(body)


async def request_read(request: HttpRequest, request_id) -> HttpResponse:
    """GET /api/v1/requests/{id}[?wait=N]: the agent's own request, long-polled with wait.

    Under ASGI, LongPollApp answers wait requests before Django sees them (no thread at all);
    this view serves the same answer under WSGI and the test client."""
    raw_wait = request.GET.get("wait")
    if raw_wait is None or request.method != "GET":
        return await _request_view_async(request, request_id=request_id)
    status, body, headers = await long_poll(request.META.get("HTTP_AUTHORIZATION", ""), raw_wait, request_id)
    response = HttpResponse(render(body), status=status, content_type="application/json")
    for name, value in headers.items():
        response[name] = value
    return response


# drf-spectacular documents DRF views only: present the DRF view (which declares `wait`) as
# this endpoint's schema. Both paths answer with the same request_json.
request_read.cls = request_view.cls
request_read.initkwargs = request_view.initkwargs
request_read.csrf_exempt = True
