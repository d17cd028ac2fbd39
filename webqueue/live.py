"""The live queue: after-commit signals become small channel-layer messages, and each
person's socket (consumers.QueueConsumer) turns them into the HTML that person may see.

Nothing but ids travels on the channel layer; the fragments are rendered per person, so
eligibility is decided at push time by the same code as the page, and a person removed from
a group or signed out stops receiving at once.
"""

import asyncio
import logging
import os
import threading
from dataclasses import dataclass
from importlib import import_module

from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from redis.exceptions import RedisError

from approvals.eligibility import tier_newcomer
from approvals.signals import (
    escalation_extended,
    escalation_opened,
    escalation_resolved,
    escalation_tier_reached,
    vote_recorded,
)
from governance.signals import Receivers, breaker_reset, breaker_tripped
from webqueue import cards

logger = logging.getLogger("airlock.live")

QUEUE_GROUP = "approvals.queue"
TEMPLATE = "approvals/queue.html"


# Seconds a push may take before the caller gives up on it (logged; pages catch up).
PUSH_TIMEOUT = 5.0

_loop: tuple[int, asyncio.AbstractEventLoop] | None = None
_loop_lock = threading.Lock()


def _push_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, in a daemon thread, for every push from sync code. The
    channel layer keeps its Redis connections per event loop: async_to_sync ran each push in
    a new loop, i.e. a new Redis client and connection per push. A forked child (a Celery
    worker) starts its own loop."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop[0] != os.getpid() or _loop[1].is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="airlock-live-push", daemon=True).start()
            _loop = (os.getpid(), loop)
        return _loop[1]


def broadcast(event: str, **data: str) -> None:
    """Tell every open queue socket that something changed. Never raises: a push that cannot
    be sent must not affect the decision that caused it (pages catch up when they reconnect)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "queue.event", "event": event, **data}
    try:
        future = asyncio.run_coroutine_threadsafe(layer.group_send(QUEUE_GROUP, message), _push_loop())
        future.result(timeout=PUSH_TIMEOUT)
    except (RedisError, OSError, RuntimeError, TimeoutError) as exc:
        logger.warning("live queue push %s failed: %s", event, exc)


def _opened(sender, request_id, **kwargs) -> None:
    broadcast("opened", request_id=str(request_id))


def _tier(sender, request_id, groups=(), **kwargs) -> None:
    broadcast("tier", request_id=str(request_id), groups=",".join(groups))


def _vote(sender, request_id, **kwargs) -> None:
    broadcast("vote", request_id=str(request_id))


def _resolved(sender, request_id, **kwargs) -> None:
    broadcast("resolved", request_id=str(request_id))


def _extended(sender, request_id, **kwargs) -> None:
    broadcast("extended", request_id=str(request_id))


def _breakers(sender, **kwargs) -> None:
    broadcast("breakers")


RECEIVERS: Receivers = [
    (escalation_opened, _opened, "live.opened"),
    (escalation_tier_reached, _tier, "live.tier"),
    (vote_recorded, _vote, "live.vote"),
    (escalation_resolved, _resolved, "live.resolved"),
    (escalation_extended, _extended, "live.extended"),
    (breaker_tripped, _breakers, "live.breaker_tripped"),
    (breaker_reset, _breakers, "live.breaker_reset"),
]


@dataclass(frozen=True)
class Push:
    """What one socket should do with one event: send `html` (if any), or close."""

    html: str = ""
    close: bool = False


def _signed_in(user_id: int, session_key: str | None):
    """The socket's person, if they are still active and still signed in (session exists)."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not session_key:
        return None
    if settings.SESSION_ENGINE.endswith("signed_cookies"):
        return user  # nothing stored server-side to check; such sessions end by expiry only
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return user if store().exists(session_key) else None


def render_event(user_id: int, session_key: str | None, message: dict) -> Push:
    """The fragment this person may see for this event (runs in a worker thread)."""
    user = _signed_in(user_id, session_key)
    if user is None:
        return Push(close=True)
    event = message.get("event")
    if event == "breakers":
        return Push(render_to_string(f"{TEMPLATE}#breakers", {"breakers": cards.breaker_trips(), "breakers_oob": True}))
    card = cards.card(user, message.get("request_id"))
    if card is None:  # not theirs to see
        return Push()
    if event == "opened":
        return Push(render_to_string(f"{TEMPLATE}#card-new", {"card": card}) if card.pending else "")
    if event == "tier":
        # Only the tier's newcomers get the card; everyone else has it already.
        groups = [g for g in str(message.get("groups", "")).split(",") if g]
        if card.pending and tier_newcomer(user, message.get("request_id"), groups):
            return Push(render_to_string(f"{TEMPLATE}#card-new", {"card": card}))
        return Push()
    if event == "vote":
        html = render_to_string(f"{TEMPLATE}#progress", {"card": card, "progress_oob": True})
        if card.my_vote:  # their own vote from another tab, Slack or the API
            html += render_to_string(f"{TEMPLATE}#actions", {"card": card, "actions_oob": True})
        return Push(html)
    if event in ("resolved", "extended"):  # extended: the new deadline and countdown
        return Push(render_to_string(f"{TEMPLATE}#card", {"card": card, "card_oob": True}))
    return Push()
