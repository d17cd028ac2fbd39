"""Login throttling with django-axes: settings glue, the backoff, and the audit of lockouts.

What is counted: failed password logins (the login page and the admin login), per username AND
client address together (AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]). After
AIRLOCK_LOGIN_FAILURE_LIMIT failures in a row that pair is locked out: even the right password
is refused (429, templates/registration/lockout.html) until the cool-off has passed.

Backoff: the cool-off is AIRLOCK_LOGIN_COOLOFF seconds at the first lockout and doubles with
every further failure of the same pair (a failure during a lockout counts and extends it),
capped at AIRLOCK_LOGIN_COOLOFF_MAX. Each attempt record carries its own expiry
(AXES_USE_ATTEMPT_EXPIRATION), so one pair's backoff never shortens or lengthens another's.

Not counted: bearer tokens (agent API keys, approver personal tokens). They are checked by
the API's own authentication classes, never through django.contrib.auth.authenticate, so axes
never sees them and they keep their own 401s.

Every lockout (every refused attempt of a locked pair) is an audit event `auth.lockout`,
written in its own transaction on the system chain.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render

logger = logging.getLogger("airlock.auth")

MAX_DOUBLINGS = 30  # 2**30 × the base is past any cap; keeps the arithmetic small


def cool_off_seconds(failures: int, *, limit: int, base: int, cap: int) -> int:
    """The lockout for a pair with `failures` failures in a row: `base` at the limit, doubled
    for each failure after it, never more than `cap`."""
    over = max(0, failures - limit)
    return min(cap, base * 2 ** min(over, MAX_DOUBLINGS))


def _pair_failures(request) -> int:
    """Failures in a row of this request's (username, address) pair, as axes has recorded
    them so far (the current failure included when called while it is being recorded)."""
    from axes.models import AccessAttempt

    if request is None:
        return 0
    username = request.POST.get(settings.AXES_USERNAME_FORM_FIELD) if request.method == "POST" else None
    address = getattr(request, "axes_ip_address", None)
    if not username or not address:
        return 0
    found = AccessAttempt.objects.filter(username=username, ip_address=address).aggregate(
        failures=Max("failures_since_start")
    )
    return found["failures"] or 0


def login_cool_off(request=None) -> timedelta:
    """AXES_COOLOFF_TIME: the backoff above, for the pair of this request."""
    return timedelta(seconds=cool_off_seconds(
        _pair_failures(request),
        limit=settings.AIRLOCK_LOGIN_FAILURE_LIMIT,
        base=settings.AIRLOCK_LOGIN_COOLOFF,
        cap=settings.AIRLOCK_LOGIN_COOLOFF_MAX,
    ))


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with Retry-After; the lockout page, or the API's JSON error
    shape for a client that asks for JSON."""
    cool_off = login_cool_off(request)
    seconds = int(cool_off.total_seconds())
    if "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"error": {
            "code": "login_locked_out",
            "message": f"Too many failed logins for this username from this address; try again in {seconds} seconds.",
        }}, status=429)
    else:
        response = render(request, "registration/lockout.html", {"cool_off_seconds": seconds,
                          "cool_off_minutes": max(1, -(-seconds // 60))}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def connect() -> None:
    """Connect the lockout audit (called from AirlockConfig.ready)."""
    from axes.signals import user_locked_out

    user_locked_out.connect(lockout_audit, dispatch_uid="governance.login_lockout_audit")


def lockout_audit(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    """One audit event per lockout. A failure to audit is logged; the lockout itself stands
    (it is already recorded by axes, and refusing the login is the safe answer)."""
    from governance.audit import audit_record

    failures = getattr(request, "axes_failures_since_start", None) or _pair_failures(request)
    cool_off = login_cool_off(request)
    payload = {
        "username": str(username or "")[:150],
        "ip_address": str(ip_address or ""),
        "failures": int(failures or 0),
        "cool_off_seconds": int(cool_off.total_seconds()),
        "path": str(getattr(request, "path", ""))[:200],
    }
    logger.warning("login locked out: %s from %s after %s failures (cool-off %ss)",
                   payload["username"], payload["ip_address"], payload["failures"], payload["cool_off_seconds"])
    try:
        with transaction.atomic():
            audit_record(kind="auth.lockout", actor="system:axes", payload=payload)
    except Exception:
        logger.exception("could not audit the login lockout of %s from %s", payload["username"], payload["ip_address"])
