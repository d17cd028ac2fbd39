"""OpenTelemetry tracing, on when OTEL_EXPORTER_OTLP_ENDPOINT is set (OTLP over HTTP).

Off, TRACER is None and nothing here runs: the decide path pays one `is None` test.

Spans (GenAI semantic conventions where they apply: gen_ai.agent.name, gen_ai.tool.name):
- `airlock.decide` — one per POST /api/v1/decide: agent, action, decision, envelope version.
- `airlock.escalation.wait` — from the escalation to its outcome (approved/rejected/expired).
- `airlock.escalation.vote` — each vote, with its choice and channel.
All spans of one request share one trace whose id IS the request's UUID, and the decide span's
id is derived from it too: the wait and vote spans, recorded later in other processes (a web
vote, the expiry worker), are children of the decide span without storing anything. An
incoming W3C `traceparent` from the agent becomes a span link on the decide span.
"""

import logging
import os
import uuid
from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

logger = logging.getLogger("airlock.tracing")

TRACER = None
_provider: TracerProvider | None = None
# (trace_id, span_id) the next span must take: the decide span of a known request.
_forced: ContextVar[tuple[int, int] | None] = ContextVar("airlock_forced_ids", default=None)


def request_trace_ids(request_id: str) -> tuple[int, int]:
    """The trace id (the UUID itself) and the decide span id (its low 64 bits, never 0)."""
    value = uuid.UUID(str(request_id)).int
    return value, (value & 0xFFFFFFFFFFFFFFFF) or 1


class RequestIdGenerator(RandomIdGenerator):
    def generate_trace_id(self) -> int:
        forced = _forced.get()
        return forced[0] if forced else super().generate_trace_id()

    def generate_span_id(self) -> int:
        forced = _forced.get()
        return forced[1] if forced else super().generate_span_id()


def tracing_enable(provider: TracerProvider) -> None:
    global TRACER, _provider
    _provider = provider
    TRACER = provider.get_tracer("airlock")


def tracing_disable() -> None:
    global TRACER, _provider
    if _provider is not None:
        _provider.shutdown()
    TRACER, _provider = None, None


def tracing_provider(processor) -> TracerProvider:
    """A provider with Airlock's id generator; OTEL_SERVICE_NAME/OTEL_RESOURCE_ATTRIBUTES apply."""
    from opentelemetry.sdk.resources import Resource

    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "airlock"}),
        id_generator=RequestIdGenerator(),
    )
    provider.add_span_processor(processor)
    return provider


def tracing_configure_from_env() -> None:
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or TRACER is not None:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces), _HEADERS, _TIMEOUT itself;
    # the batch processor exports from its own thread, never in a request.
    tracing_enable(tracing_provider(BatchSpanProcessor(OTLPSpanExporter())))
    logger.info("tracing: exporting spans to %s", os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"])


def _ns(moment) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def decide_span_record(*, start_ns: int, end_ns: int, agent: str, action: str, status_code: int,
                       body: dict | None, traceparent: str | None) -> None:
    """Record the decide span after the answer is known (its ids come from the request id)."""
    tracer = TRACER
    if tracer is None:
        return
    attributes = {
        "gen_ai.agent.name": agent,
        "gen_ai.tool.name": action,
        "airlock.action": action,
        "http.response.status_code": status_code,
    }
    forced = None
    if body and body.get("id"):
        attributes.update({
            "airlock.request.id": body["id"],
            "airlock.decision": body.get("decision") or "",
            "airlock.status": body.get("status") or "",
            "airlock.envelope.version": body.get("envelope_version") if body.get("envelope_version") is not None else -1,
        })
        try:
            forced = request_trace_ids(body["id"])
        except ValueError:
            forced = None
    else:
        attributes["airlock.decision"] = "deny" if status_code >= 500 else "error"
        attributes["error.type"] = str(status_code)
    links = []
    if traceparent:
        incoming = trace.get_current_span(TraceContextTextMapPropagator().extract({"traceparent": traceparent}))
        if incoming.get_span_context().is_valid:
            links.append(Link(incoming.get_span_context(), {"airlock.link": "agent"}))
    token = _forced.set(forced)
    try:
        span = tracer.start_span(
            f"airlock.decide {action}".strip(), kind=SpanKind.SERVER, attributes=attributes,
            links=links, start_time=start_ns, context=trace.set_span_in_context(trace.INVALID_SPAN),
        )
    finally:
        _forced.reset(token)
    if status_code >= 500:
        span.set_status(trace.Status(trace.StatusCode.ERROR, "cannot evaluate: deny"))
    span.end(end_time=end_ns)


def _decide_parent(request_id: str):
    trace_id, span_id = request_trace_ids(request_id)
    parent = SpanContext(trace_id=trace_id, span_id=span_id, is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(parent))


def wait_span_record(*, request, outcome: str) -> None:
    """The escalation wait, from the decision to its outcome, as a child of the decide span."""
    tracer = TRACER
    if tracer is None or request.decided_at is None:
        return
    span = tracer.start_span(
        "airlock.escalation.wait", context=_decide_parent(request.pk), start_time=_ns(request.created_at),
        attributes={
            "gen_ai.agent.name": request.agent.name,
            "gen_ai.tool.name": request.action,
            "airlock.request.id": str(request.pk),
            "airlock.outcome": outcome,
        },
    )
    span.end(end_time=max(_ns(request.decided_at), _ns(request.created_at)))


def vote_span_record(*, request, vote, approvals: int | None = None) -> None:
    tracer = TRACER
    if tracer is None:
        return
    at = _ns(vote.created_at)
    attributes = {
        "gen_ai.agent.name": request.agent.name,
        "gen_ai.tool.name": request.action,
        "airlock.request.id": str(request.pk),
        "airlock.vote.choice": vote.choice,
        "airlock.vote.via": vote.via,
    }
    if approvals is not None:
        attributes["airlock.vote.approvals"] = approvals
    span = tracer.start_span("airlock.escalation.vote", context=_decide_parent(request.pk),
                             start_time=at, attributes=attributes)
    span.end(end_time=at)
