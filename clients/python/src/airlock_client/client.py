"""The Airlock client: ask before acting, wait for a person when asked to, fail closed.

Plain Python over httpx; nothing from the server. Every path that is not a clear "allowed"
or "approved" for exactly what was asked raises a `Denied` (or a subclass).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from airlock_client.errors import Denied, Expired, Rejected, Unavailable

logger = logging.getLogger("airlock_client")

DECISIONS = frozenset({"allow", "deny", "escalate"})
STATUSES = frozenset({"allowed", "denied", "pending", "approved", "rejected", "expired"})
GO = frozenset({"allowed", "approved"})
MAX_SERVER_WAIT = 60  # the API accepts wait=0..60


def action_digest(action: str, resource: str, params: dict) -> str:
    """SHA-256 over the canonical JSON of action, resource and params: the same digest Airlock
    returns with every answer (SPEC §4, "Verifying an approval downstream")."""
    text = json.dumps({"action": action, "resource": resource, "params": params},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Decision:
    """One answer from Airlock (`POST /api/v1/decide` or `GET /api/v1/requests/{id}`)."""

    id: str
    decision: str  # allow | deny | escalate
    status: str  # allowed | denied | pending | approved | rejected | expired
    reasons: list[dict[str, Any]]
    risk: dict[str, Any] | None
    expires_at: str | None
    digest: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True only for `allowed` and `approved`."""
        return self.status in GO

    @property
    def codes(self) -> list[str]:
        return [str(reason.get("code", "")) for reason in self.reasons]


OutcomeReporter = Callable[[Decision, bool, str], None]


def _reason(code: str, message: str) -> list[dict[str, str]]:
    return [{"code": code, "message": message}]


class Airlock:
    """A client for one agent.

    `Airlock(url=None, token=None, *, timeout=10.0)`: `url` and `token` fall back to the
    `AIRLOCK_URL` and `AIRLOCK_TOKEN` environment variables. A missing one is not an error
    here: every call then raises `Unavailable` (`not_configured`), so nothing runs.

    Keyword-only extras: `poll_wait` (seconds per long-poll, ≤ 60), `wait_grace` (seconds to
    keep waiting past `expires_at`, for clock skew), `retries` (extra attempts of one decide on
    a transport error or 502/503/504, with the same idempotency key), `outcome_reporter`
    (see `report_outcome`), and `clock` / `sleep` / `transport` for tests.
    """

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 10.0,
                 poll_wait: float = 25.0, wait_grace: float = 30.0, retries: int = 2,
                 outcome_reporter: OutcomeReporter | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None):
        self.url = (url if url is not None else os.environ.get("AIRLOCK_URL", "")).rstrip("/")
        self._token = token if token is not None else os.environ.get("AIRLOCK_TOKEN", "")
        self.timeout = float(timeout)
        self.poll_wait = max(1, min(int(poll_wait), MAX_SERVER_WAIT))
        self.wait_grace = float(wait_grace)
        self.retries = max(0, int(retries))
        self.outcome_reporter = outcome_reporter
        self._clock, self._sleep = clock, sleep
        self._http = httpx.Client(
            timeout=self.timeout, transport=transport, follow_redirects=False,
            headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json",
                     "User-Agent": "airlock-client/0.1"},
        )

    def __repr__(self) -> str:  # never show the token
        return f"Airlock(url={self.url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Airlock:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- asking ---------------------------------------------------------------------------

    def decide(self, action: str, *, resource: str = "", params: dict | None = None,
               context: dict | None = None, idempotency_key: str | None = None) -> Decision:
        """Ask once; never waits. Returns the answer whatever it is (allow, deny or escalate);
        raises `Unavailable` when there is no usable answer and `Denied` (status `error`) when
        Airlock refused the request itself (bad input, bad token)."""
        self._check_configured(action)
        params = {} if params is None else params
        if not isinstance(action, str) or not action:
            raise Denied(status="error", reasons=_reason("invalid_request", "action must be a non-empty string"))
        if not isinstance(resource, str):
            raise Denied(status="error", reasons=_reason("invalid_request", "resource must be a string"))
        if not isinstance(params, dict) or (context is not None and not isinstance(context, dict)):
            raise Denied(status="error", reasons=_reason("invalid_request", "params and context must be dicts"))
        # One key per call: a retry of this call (below) can never create a second decision.
        key = idempotency_key or f"alc-{uuid.uuid4().hex}"
        body: dict[str, Any] = {"action": action, "resource": resource, "params": params, "idempotency_key": key}
        if context is not None:
            body["context"] = context
        try:
            payload = json.dumps(body, allow_nan=False)
            expected = action_digest(action, resource, json.loads(payload)["params"])
        except (TypeError, ValueError) as exc:
            raise Denied(status="error", reasons=_reason("invalid_request", f"not JSON: {exc}")) from exc

        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(0.2 * attempt)
            try:
                response = self._http.post(f"{self.url}/api/v1/decide", content=payload,
                                           headers={"Content-Type": "application/json"})
            except httpx.HTTPError as exc:
                last = exc
                logger.warning("airlock decide %s: attempt %d failed: %s", action, attempt + 1, exc)
                continue
            if response.status_code in (502, 503, 504) and attempt < self.retries:
                last = None
                logger.warning("airlock decide %s: HTTP %d, retrying", action, response.status_code)
                continue
            return self._answer(response, expected, action)
        raise Unavailable(reasons=_reason("unreachable", f"Airlock at {self.url} did not answer: {last}"))

    def require(self, action: str, *, resource: str = "", params: dict | None = None,
                context: dict | None = None, wait: bool | float = True, idempotency_key: str | None = None,
                on_pending: Callable[[Decision, float], None] | None = None) -> Decision:
        """Ask and, on escalate, wait for a person. Returns only an `allowed` or `approved`
        Decision for exactly this action; raises `Denied`, `Rejected`, `Expired` or
        `Unavailable` otherwise.

        `wait=True` waits until the request's deadline (plus `wait_grace`); a number waits at
        most that many seconds; `False` does not wait (a pending request raises `Denied` with
        status `pending`). `on_pending(decision, waited_seconds)` is called before each
        long-poll while the request is pending (the MCP gateway sends progress from it); if it
        raises `Denied`, waiting stops with that refusal."""
        decision = self.decide(action, resource=resource, params=params, context=context,
                               idempotency_key=idempotency_key)
        if decision.status == "pending":
            if wait is False:
                raise Denied(status="pending", reasons=decision.reasons, request_id=decision.id)
            decision = self._wait(decision, None if wait is True else float(wait), on_pending)
        return self._settle(decision)

    def request(self, request_id: str, *, wait: int = 0) -> Decision:
        """`GET /api/v1/requests/{id}[?wait=N]`: the current state of one of this agent's requests."""
        self._check_configured("")
        response = self._get(request_id, wait)
        return self._answer(response, None, "")

    # -- async ------------------------------------------------------------------------------

    async def adecide(self, action: str, **kwargs) -> Decision:
        """`decide` for asyncio code (runs in a worker thread)."""
        return await asyncio.to_thread(functools.partial(self.decide, action, **kwargs))

    async def arequire(self, action: str, **kwargs) -> Decision:
        """`require` for asyncio code (runs in a worker thread; the event loop is never blocked)."""
        return await asyncio.to_thread(functools.partial(self.require, action, **kwargs))

    # -- the decorator ------------------------------------------------------------------------

    def guarded(self, action: str, *, resource: str | Callable[..., str] | None = None,
                params: dict | list | tuple | Callable[..., dict] | None = None,
                context: dict | Callable[..., dict] | None = None, wait: bool | float = True):
        """Run the decorated function (sync or async) only after `require(...)` succeeds.

        `params`: by default the call's arguments by name (positional ones too, so calling
        `pay(47000)` and `pay(amount=47000)` ask the same thing; `self`/`cls` left out); or a
        dict, a list of argument names, or a callable taking the function's arguments.
        `resource`: a literal string, the name of one of the function's arguments, or a
        callable taking the function's arguments. Any error before or while asking raises
        `Denied` and the function never runs. The outcome (returned or raised) goes to
        `report_outcome`.
        """

        def decorate(fn):
            signature = inspect.signature(fn)
            names = list(signature.parameters)
            skip = names[0] if names and names[0] in ("self", "cls") else None

            def ask(args, kwargs) -> Decision:
                try:
                    arguments = _arguments(signature, skip, args, kwargs)
                    asked_params = _resolve_params(params, arguments, args, kwargs)
                    asked_resource = _resolve_resource(resource, arguments, args, kwargs)
                    asked_context = context(*args, **kwargs) if callable(context) else context
                except Denied:
                    raise
                except Exception as exc:
                    logger.warning("airlock guard %s: could not build the request: %s", action, exc)
                    raise Denied(status="error", reasons=_reason("guard_error", str(exc))) from exc
                return self.require(action, resource=asked_resource, params=asked_params,
                                    context=asked_context, wait=wait)

            if inspect.iscoroutinefunction(fn):
                @functools.wraps(fn)
                async def async_wrapper(*args, **kwargs):
                    decision = await asyncio.to_thread(ask, args, kwargs)
                    try:
                        result = await fn(*args, **kwargs)
                    except BaseException as exc:
                        self.report_outcome(decision, succeeded=False, detail=f"{type(exc).__name__}: {exc}")
                        raise
                    self.report_outcome(decision, succeeded=True)
                    return result

                return async_wrapper

            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                decision = ask(args, kwargs)
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    self.report_outcome(decision, succeeded=False, detail=f"{type(exc).__name__}: {exc}")
                    raise
                self.report_outcome(decision, succeeded=True)
                return result

            return wrapper

        return decorate

    # -- outcomes -------------------------------------------------------------------------

    def report_outcome(self, decision: Decision, *, succeeded: bool, detail: str = "",
                       effects: dict | None = None, status: str | None = None) -> None:
        """Tell Airlock what the guarded action did: `POST /api/v1/requests/{id}/outcome` with
        `{"status": "succeeded"|"failed"|"rolled_back", "detail", "effects"}` (once per request).

        An `outcome_reporter(decision, succeeded, detail)` given to the constructor is called
        instead of the POST. Reporting never changes what the guarded call returned or raised:
        errors (including 409 outcome_exists) are logged, not raised."""
        try:
            if self.outcome_reporter is not None:
                self.outcome_reporter(decision, succeeded, detail)
                return
            if not decision.id or not self.url:
                return
            body = {"status": status or ("succeeded" if succeeded else "failed"), "detail": detail[:10_000],
                    "effects": effects or {}}
            response = self._http.post(f"{self.url}/api/v1/requests/{decision.id}/outcome", json=body)
            if response.status_code != 200:
                logger.warning("airlock outcome report for request %s: HTTP %s %s", decision.id,
                               response.status_code, response.text[:200])
        except Exception:
            logger.exception("airlock outcome report for request %s failed", decision.id)

    # -- internals --------------------------------------------------------------------------

    def _check_configured(self, action: str) -> None:
        if not self.url or not self._token:
            raise Unavailable(reasons=_reason("not_configured", "Airlock URL or token missing "
                                              "(pass url= and token=, or set AIRLOCK_URL and AIRLOCK_TOKEN)"))
        if not self.url.startswith(("http://", "https://")):
            raise Unavailable(reasons=_reason("not_configured", f"Airlock URL must be http(s): {self.url!r}"))

    def _get(self, request_id: str, wait: int) -> httpx.Response:
        return self._http.get(f"{self.url}/api/v1/requests/{request_id}", params={"wait": str(int(wait))},
                              timeout=self.timeout + wait)

    def _wait(self, decision: Decision, max_wait: float | None, on_pending) -> Decision:
        """Long-poll until the request leaves pending; reconnect on errors until the deadline."""
        expires = _parse_time(decision.expires_at)
        if expires is None:
            raise Unavailable(request_id=decision.id,
                              reasons=_reason("malformed_response", "a pending answer without expires_at"))
        started = self._clock()
        limit = (expires - datetime.now(UTC)).total_seconds() + self.wait_grace
        if max_wait is not None:
            limit = min(limit, max_wait)
        deadline = started + limit
        backoff, trouble = 0.5, None
        while True:
            left = deadline - self._clock()
            if left <= 0:
                break
            if on_pending is not None:
                try:
                    on_pending(decision, self._clock() - started)
                except Denied:
                    raise  # the caller's way to stop waiting: still a "no"
                except Exception:
                    logger.exception("airlock on_pending callback failed (request %s)", decision.id)
            wait = int(min(self.poll_wait, left))
            try:
                response = self._get(decision.id, wait)
            except httpx.HTTPError as exc:
                trouble = f"{type(exc).__name__}: {exc}"
                logger.warning("airlock wait for %s: %s; reconnecting", decision.id, trouble)
                self._sleep(min(backoff, max(left, 0)))
                backoff = min(backoff * 2, 5.0)
                continue
            if response.status_code >= 500 or response.status_code == 429:
                trouble = f"HTTP {response.status_code}"
                logger.warning("airlock wait for %s: %s; reconnecting", decision.id, trouble)
                self._sleep(min(backoff, max(left, 0)))
                backoff = min(backoff * 2, 5.0)
                continue
            latest = self._answer(response, decision.digest, "")
            if latest.id != decision.id:
                raise Unavailable(request_id=decision.id,
                                  reasons=_reason("malformed_response", "answer for another request"))
            backoff, trouble, decision = 0.5, None, latest
            if latest.status != "pending":
                return latest
        if trouble is not None:
            raise Unavailable(request_id=decision.id,
                              reasons=_reason("unreachable", f"lost Airlock while waiting: {trouble}"))
        if max_wait is not None:
            raise Denied(status="pending", request_id=decision.id,
                         reasons=[*decision.reasons, {"code": "wait_exceeded",
                                                      "message": f"no answer within {max_wait:g}s"}])
        raise Expired(request_id=decision.id,
                      reasons=[*decision.reasons, {"code": "deadline_passed",
                                                   "message": "still pending after the deadline"}])

    def _settle(self, decision: Decision) -> Decision:
        status = decision.status
        if status in GO:
            approved_params = decision.raw.get("approved_params")
            if approved_params is not None and approved_params != decision.raw.get("params", approved_params):
                # A person approved different params: what was asked is not what was approved.
                raise Denied(status="error", request_id=decision.id,
                             reasons=_reason("approved_params_differ",
                                             "approved with different params; ask again with those"))
            return decision
        error = {"rejected": Rejected, "expired": Expired}.get(status, Denied)
        logger.info("airlock %s request %s: %s", status, decision.id, ", ".join(decision.codes))
        raise error(status=status, reasons=decision.reasons, request_id=decision.id)

    def _answer(self, response: httpx.Response, expected_digest: str | None, action: str) -> Decision:
        """Turn an HTTP answer into a Decision, or raise. Anything unexpected is Unavailable."""
        code = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if code != 200:
            error = body.get("error") if isinstance(body, dict) else None
            if not isinstance(error, dict):
                error = {"code": f"http_{code}", "message": response.text[:200]}
            reasons = [{"code": str(error.get("code", f"http_{code}")), "message": str(error.get("message", ""))}]
            logger.warning("airlock %s: HTTP %d %s", action or "request", code, reasons[0]["code"])
            if code >= 500 or code == 429:
                raise Unavailable(reasons=reasons)
            raise Denied(status="error", reasons=reasons)
        try:
            decision = _decision(body)
        except (TypeError, ValueError, KeyError) as exc:
            raise Unavailable(reasons=_reason("malformed_response", f"unusable answer: {exc}")) from exc
        if expected_digest is not None and decision.digest != expected_digest:
            raise Unavailable(request_id=decision.id,
                              reasons=_reason("digest_mismatch", "the answer is for a different action"))
        return decision


def _decision(body: Any) -> Decision:
    if not isinstance(body, dict):
        raise TypeError("not a JSON object")
    decision, status = body["decision"], body["status"]
    if decision not in DECISIONS or status not in STATUSES:
        raise ValueError(f"unknown decision/status {decision!r}/{status!r}")
    # A status that contradicts the decision is not an answer we can act on.
    allowed_by = {"allowed": {"allow"}, "approved": {"escalate"}, "pending": {"escalate"},
                  "rejected": {"escalate"}, "expired": {"escalate"}, "denied": DECISIONS}
    if decision not in allowed_by[status]:
        raise ValueError(f"status {status!r} contradicts decision {decision!r}")
    reasons = body.get("reasons") or []
    if not isinstance(reasons, list) or not all(isinstance(r, dict) for r in reasons):
        raise ValueError("reasons must be a list of objects")
    request_id, digest = body["id"], body["digest"]
    if not isinstance(request_id, str) or not request_id or not isinstance(digest, str):
        raise ValueError("id and digest must be strings")
    risk = body.get("risk")
    return Decision(id=request_id, decision=decision, status=status, reasons=reasons,
                    risk=risk if isinstance(risk, dict) else None,
                    expires_at=body.get("expires_at"), digest=digest, raw=body)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _arguments(signature: inspect.Signature, skip: str | None, args, kwargs) -> dict[str, Any]:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    arguments: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if name == skip:
            continue
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            arguments[name] = list(value)
        else:
            arguments[name] = value
    return arguments


def _resolve_params(spec, arguments: dict, args, kwargs) -> dict:
    if spec is None:
        return arguments
    if callable(spec):
        return spec(*args, **kwargs)
    if isinstance(spec, dict):
        return spec
    if isinstance(spec, list | tuple):
        return {name: arguments[name] for name in spec}
    raise TypeError(f"params must be a dict, a list of argument names or a callable, not {type(spec).__name__}")


def _resolve_resource(spec, arguments: dict, args, kwargs) -> str:
    if spec is None:
        return ""
    if callable(spec):
        value = spec(*args, **kwargs)
    elif isinstance(spec, str) and spec in arguments:
        value = arguments[spec]
    else:
        value = spec
    if not isinstance(value, str):
        raise TypeError(f"resource must resolve to a string, not {type(value).__name__}")
    return value
