"""What happens when an agent asks for something its envelope forbids: the request is
captured as an anomaly (tagged for triage) and the circuit breaker counts it."""

from django.db import connection

from governance.anomalies import anomaly_classify
from governance.audit import audit_record
from governance.breaker import breaker_check, breaker_count_rider
from governance.models import Agent, Anomaly, DecisionRequest
from governance.rows import Rider, insert, insert_rider


def violation_details(request: DecisionRequest) -> dict:
    """A self-contained snapshot: the export and the triage page need no joins."""
    context = request.context or {}
    return {
        "request_id": str(request.id),
        "agent": request.agent.name,
        "action": request.action,
        "resource": request.resource,
        "params": request.params,
        "context": context,
        "reasoning": context.get("reasoning", ""),
        "input_source": request.input_source,
        "confidence": context.get("confidence"),
        "model_version": context.get("model_version", ""),
        "session": request.session,
        "decision": request.decision,
        "reasons": request.reasons,
        "risk": request.risk,
        "capability": request.capability,
        "envelope_version": request.envelope_version,
        "agent_mode": request.agent_mode,
    }


def violation_anomaly(*, request: DecisionRequest, agent: Agent) -> Anomaly:
    """The anomaly row capturing a violation, tagged for triage (not yet saved). `agent` as
    lock_agent read it (with envelope_created_at), so nothing is read again."""
    tag, tag_reason = anomaly_classify(request, getattr(agent, "envelope_created_at", None))
    reason = request.reasons[0] if request.reasons else {}
    return Anomaly(
        request=request,
        agent=agent,
        code=reason.get("code", "violation"),
        tag=tag,
        tag_reason=tag_reason,
        details=violation_details(request),
        created_at=request.created_at,
    )


def anomaly_riders(anomaly: Anomaly | None) -> tuple[Rider, ...]:
    """The anomaly's INSERT as a rider of the decision's audit append (PostgreSQL:
    governance/rows.py), so it costs no statement of its own; elsewhere none, and
    violation_record() inserts it."""
    if anomaly is None or connection.vendor != "postgresql":
        return ()
    return (insert_rider(anomaly, "anomaly"),)


def violation_record(*, request: DecisionRequest, agent: Agent, compiled, anomaly: Anomaly) -> Anomaly:
    """Capture a violation with its full context, then let the breaker count it.
    Runs in the decide transaction, under the agent row lock. decide passes the compiled
    envelope it evaluated (request.envelope's) and the anomaly row it built
    (violation_anomaly), written already if it rode on the decision's statement."""
    breaker = compiled.breaker if request.envelope_id and compiled is not None else None
    if anomaly._state.adding:
        insert(anomaly)
    # The breaker's count rides on the anomaly's audit append (PostgreSQL): one round trip.
    count = breaker_count_rider(agent=agent, breaker=breaker, now=request.created_at)
    audit_record(
        kind="anomaly.recorded", actor="system:policy", agent=agent, request_id=request.id, at=request.created_at,
        payload={"anomaly": anomaly.pk, "code": anomaly.code, "tag": anomaly.tag, "tag_reason": anomaly.tag_reason},
        riders=(count,) if count is not None else (),
    )
    breaker_check(agent=agent, breaker=breaker, now=request.created_at, count=count.value if count else None)
    return anomaly
