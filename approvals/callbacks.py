"""Agent callbacks: when an escalation resolves, POST the request JSON to the agent.

What is signed: the attempt's timestamp and the exact bytes of the body.
    X-Airlock-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key=callback_secret (UTF-8),
                                                  msg="<t>." + body)>
    X-Airlock-Timestamp: <t> (the same value, for convenience)
The body is the request JSON of GET /api/v1/requests/{id}, serialised compactly with sorted
keys. Receivers compute the HMAC over "<t>." + the raw body they received (before parsing),
compare in constant time, reject a timestamp outside their window (5 minutes) and a signature
they already accepted (a replay); retries and re-sends after a crash carry a new timestamp and
the same body, so deduplicate the work by "id". `CallbackVerifier` below is that receiver.

Where it may go: an http(s) URL whose host resolves only to public addresses, checked when it
is registered and again at every send, and the connection goes to the address that was checked
(no DNS rebinding). AIRLOCK_CALLBACK_ALLOW_PRIVATE=true allows private ones (local demos).
"""

import hashlib
import hmac
import json
import logging
import time
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction

from governance.audit import audit_record
from governance.errors import NotFound
from governance.models import DecisionRequest
from governance.netguard import UnsafeURL, callback_target
from governance.representations import request_json

logger = logging.getLogger("airlock.callbacks")

SIGNATURE_HEADER = "X-Airlock-Signature"
TIMESTAMP_HEADER = "X-Airlock-Timestamp"


class CallbackFailed(Exception):
    """The receiver did not answer 2xx in time; worth retrying."""


def callback_body(row: DecisionRequest) -> bytes:
    return json.dumps(request_json(row), separators=(",", ":"), sort_keys=True).encode()


SIGNATURE_TOLERANCE = 300  # seconds a receiver should accept a timestamp either side of its clock


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def callback_signature(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def _parse(header: str) -> tuple[int | None, list[str]]:
    timestamp, macs = None, []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and value:
            macs.append(value)
    return timestamp, macs


def callback_verify(secret: str, body: bytes, header: str, *, now: float,
                    tolerance: int = SIGNATURE_TOLERANCE) -> bool:
    """The signature is ours and its timestamp within `tolerance` seconds of `now`."""
    timestamp, macs = _parse(header)
    if timestamp is None or not macs or abs(now - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, mac) for mac in macs)


class CallbackVerifier:
    """What a receiver does (used by the tests, and the reference for agent authors): verify
    the signature and the timestamp window, and refuse a signature seen before (a replay).
    Remembered signatures are forgotten once their timestamp leaves the window."""

    def __init__(self, secret: str, *, tolerance: int = SIGNATURE_TOLERANCE, clock=time.time):
        self.secret, self.tolerance, self.clock = secret, tolerance, clock
        self.seen: dict[str, int] = {}

    def check(self, body: bytes, header: str) -> str | None:
        """None when the callback is genuine and new, else why it is refused."""
        now = self.clock()
        for mac, timestamp in list(self.seen.items()):
            if now - timestamp > self.tolerance:
                del self.seen[mac]
        timestamp, _ = _parse(header)
        if timestamp is None:
            return "no timestamp"
        if abs(now - timestamp) > self.tolerance:
            return "stale timestamp"
        if not callback_verify(self.secret, body, header, now=now, tolerance=self.tolerance):
            return "bad signature"
        key = _mac(self.secret, timestamp, body)
        if key in self.seen:
            return "replayed"
        self.seen[key] = timestamp
        return None


def callback_backoff(retries: int) -> int:
    """Seconds before retry number `retries + 1`: base, 2x base, 4x base ... capped at 10 min."""
    return min(settings.AIRLOCK_CALLBACK_BACKOFF * 2**retries, 600)


def callback_deliver(*, request_id) -> int | None:
    """POST one resolved request to its agent's callback_url. Returns the HTTP status, None
    when there is nothing to send, raises CallbackFailed on a network error or non-2xx."""
    row = DecisionRequest.objects.select_related("agent").filter(pk=request_id).first()
    if row is None:
        raise NotFound("no such request")
    agent = row.agent
    if not agent.callback_url or row.status == DecisionRequest.Status.PENDING:
        return None
    if not agent.callback_secret:
        # Never send an unsigned callback: the receiver could not tell it from a forgery.
        logger.error("agent %s has a callback_url but no callback_secret; not sending", agent.name)
        return None
    body = callback_body(row)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Airlock-Callback/1",
        SIGNATURE_HEADER: callback_signature(agent.callback_secret, body, timestamp),
        TIMESTAMP_HEADER: str(timestamp),
        "X-Airlock-Event": "escalation.resolved",
        "X-Airlock-Request-Id": str(row.pk),
    }
    response = _post(agent.callback_url, body, headers)
    if not 200 <= response.status_code < 300:
        raise CallbackFailed(f"HTTP {response.status_code}")
    return response.status_code


def _post(url: str, body: bytes, headers: dict) -> httpx.Response:
    """POST to an address that was checked: resolve once, refuse private ones (unless allowed),
    connect to the checked address with the original Host, SNI and certificate name."""
    try:
        target = callback_target(url)
    except UnsafeURL as exc:
        logger.error("callback to %s not sent: %s", url, exc)
        raise CallbackFailed(f"refused: {exc}") from None
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    last: Exception | None = None
    for address in target.addresses:
        host = f"[{address}]" if ":" in address else address
        pinned = f"{target.scheme}://{host}:{target.port}{path}"
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            with httpx.Client(timeout=settings.AIRLOCK_CALLBACK_TIMEOUT, follow_redirects=False) as client:
                return client.post(pinned, content=body, headers={**headers, "Host": parts.netloc},
                                   extensions=extensions)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            last = exc  # try the next checked address
        except httpx.HTTPError as exc:
            raise CallbackFailed(f"{type(exc).__name__}: {exc}") from exc
    raise CallbackFailed(f"{type(last).__name__}: {last}")


@transaction.atomic
def callback_record(*, request_id, delivered: bool, attempts: int, detail: str) -> None:
    """Audit the end of a delivery: delivered, or given up after the last retry."""
    row = DecisionRequest.objects.select_related("agent").get(pk=request_id)
    audit_record(
        kind="callback.delivered" if delivered else "callback.failed",
        actor="system:callbacks", agent=row.agent, request_id=row.pk,
        payload={"url": row.agent.callback_url, "status": row.status, "attempts": attempts, "detail": detail},
    )
