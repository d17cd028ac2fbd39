"""Agent callbacks: when an escalation resolves, POST the request JSON to the agent.

What is signed (SPEC §4): the exact bytes of the body.
    X-Airlock-Signature: sha256=<hex HMAC-SHA256(key=callback_secret (UTF-8), msg=body)>
    X-Airlock-Timestamp: <unix seconds when this attempt was sent> (informational, not signed)
The body is the request JSON of GET /api/v1/requests/{id}, serialised compactly with sorted
keys. Receivers must compute the HMAC over the raw body they received (before parsing) and
compare in constant time; retries resend the same body, so deduplicate by "id".
"""

import hashlib
import hmac
import json
import logging
import time

import httpx
from django.conf import settings
from django.db import transaction

from governance.audit import audit_record
from governance.errors import NotFound
from governance.models import DecisionRequest
from governance.representations import request_json

logger = logging.getLogger("airlock.callbacks")

SIGNATURE_HEADER = "X-Airlock-Signature"
TIMESTAMP_HEADER = "X-Airlock-Timestamp"


class CallbackFailed(Exception):
    """The receiver did not answer 2xx in time; worth retrying."""


def callback_body(row: DecisionRequest) -> bytes:
    return json.dumps(request_json(row), separators=(",", ":"), sort_keys=True).encode()


def callback_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def callback_verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (used by the tests and documented for agent authors)."""
    return hmac.compare_digest(callback_signature(secret, body), header or "")


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
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Airlock-Callback/1",
        SIGNATURE_HEADER: callback_signature(agent.callback_secret, body),
        TIMESTAMP_HEADER: str(int(time.time())),
        "X-Airlock-Event": "escalation.resolved",
        "X-Airlock-Request-Id": str(row.pk),
    }
    try:
        response = httpx.post(
            agent.callback_url, content=body, headers=headers,
            timeout=settings.AIRLOCK_CALLBACK_TIMEOUT, follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        raise CallbackFailed(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise CallbackFailed(f"HTTP {response.status_code}")
    return response.status_code


@transaction.atomic
def callback_record(*, request_id, delivered: bool, attempts: int, detail: str) -> None:
    """Audit the end of a delivery: delivered, or given up after the last retry."""
    row = DecisionRequest.objects.select_related("agent").get(pk=request_id)
    audit_record(
        kind="callback.delivered" if delivered else "callback.failed",
        actor="system:callbacks", agent=row.agent, request_id=row.pk,
        payload={"url": row.agent.callback_url, "status": row.status, "attempts": attempts, "detail": detail},
    )
