"""Every request gets an id (X-Request-ID in and out, in every log line and in the decision's
audit event); POST /api/v1/decide is counted and timed here, outside decide() itself.

The decide hot path pays one counter increment and one histogram observation, no database
work; the span is built only when tracing is on. Sync- and async-capable, like the others.
"""

import json
import logging
import time

from django.utils.functional import SimpleLazyObject

from ops import metrics, tracing
from shared.middleware import SyncAsyncMiddleware
from shared.request_id import request_id_from, request_id_reset, request_id_set

logger = logging.getLogger("airlock.ops")
DECIDE_PATH = "/api/v1/decide"


class RequestIdMiddleware(SyncAsyncMiddleware):
    def handle(self, request):
        rid, token = self._begin(request)
        try:
            if request.path_info == DECIDE_PATH and request.method == "POST":
                return self._finish(request, self._decide(request, self.get_response), rid)
            return self._finish(request, self.get_response(request), rid)
        finally:
            request_id_reset(token)

    async def ahandle(self, request):
        rid, token = self._begin(request)
        try:
            if request.path_info == DECIDE_PATH and request.method == "POST":
                started = time.perf_counter()
                start_ns = time.time_ns()
                action = self._action(request)
                response = await self.get_response(request)
                self._observe(request, response, started, start_ns, action)
            else:
                response = await self.get_response(request)
            return self._finish(request, response, rid)
        finally:
            request_id_reset(token)

    @staticmethod
    def _begin(request):
        rid = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = rid
        return rid, request_id_set(rid)

    @staticmethod
    def _finish(request, response, rid):
        response["X-Request-ID"] = rid
        return response

    def _decide(self, request, get_response):
        started = time.perf_counter()
        start_ns = time.time_ns()
        action = self._action(request)
        response = get_response(request)
        self._observe(request, response, started, start_ns, action)
        return response

    @staticmethod
    def _action(request) -> str:
        """Only with tracing on: the action named in the body (read once, cached by Django)."""
        if tracing.TRACER is None:
            return ""
        try:
            action = json.loads(request.body or b"{}").get("action", "")
        except Exception:  # noqa: BLE001 - a bad body is the view's to refuse, not ours
            return ""
        return action if isinstance(action, str) else ""

    @staticmethod
    def _observe(request, response, started: float, start_ns: int, action: str) -> None:
        try:
            metrics.DECIDE_SECONDS.observe(time.perf_counter() - started)
            body = getattr(response, "data", None)
            body = body if isinstance(body, dict) else None
            # DRF puts the agent's principal on the request; the session's lazy user is never
            # evaluated here (that would be a database query, and async-unsafe).
            principal = request.__dict__.get("user")
            agent = "" if type(principal) is SimpleLazyObject else getattr(getattr(principal, "agent", None), "name", "")
            if response.status_code == 200 and body and agent:
                metrics.DECISIONS.labels(decision=str(body.get("decision")), agent=agent).inc()
            elif response.status_code >= 500 and agent:
                # Could not evaluate: the agent must treat it as a deny.
                metrics.DECISIONS.labels(decision="unavailable", agent=agent).inc()
            if tracing.TRACER is not None:
                tracing.decide_span_record(
                    start_ns=start_ns, end_ns=time.time_ns(), agent=agent, action=action,
                    status_code=response.status_code, body=body,
                    traceparent=request.META.get("HTTP_TRACEPARENT"),
                )
        except Exception:  # noqa: BLE001 - instrumentation never changes an answer
            logger.exception("decide instrumentation failed")
