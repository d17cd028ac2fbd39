"""decide(): an agent asks, Airlock answers. Fails closed at every step."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from governance.audit import audit_record, head_seen, head_subquery
from governance.canonical import action_digest
from governance.errors import Conflict, Unavailable
from governance.facts import facts_for_resource, facts_from_rows, facts_subquery
from governance.locks import lock_agent, lock_sequence_keys, sequence_keys
from governance.models import Agent, DecisionRequest
from governance.policy import Decision, PolicyRequest, Reason, evaluate
from governance.ports import escalation_open
from governance.reliability import reliability_record, shadow_evaluate, shadow_state
from governance.services import envelope_compiled_by_pk
from governance.state import DatabaseState
from shared.request_id import request_id_fields

logger = logging.getLogger("airlock.decide")


@dataclass(frozen=True)
class DecideInput:
    action: str
    resource: str = ""
    params: dict | None = None
    context: dict | None = None
    idempotency_key: str | None = None


def _stored(agent: Agent, key: str | None) -> DecisionRequest | None:
    if not key:
        return None
    return DecisionRequest.objects.filter(agent=agent, idempotency_key=key).first()


def decide(*, agent: Agent, data: DecideInput, now: datetime | None = None) -> tuple[DecisionRequest, bool]:
    """Evaluate and record one request. Returns (request, created). Raises Unavailable (503)
    when the answer cannot even be recorded; never returns an allow it could not record.
    Raises Conflict (409 idempotency_conflict) when the key was used for another action."""
    now = now or timezone.now()
    try:
        # 2. A repeated idempotency key returns the stored answer and creates nothing. The
        # unique constraint on (agent, idempotency_key) finds the repeat: inserting it fails,
        # the whole decision rolls back, and the stored answer is read. Keys are normally
        # new, so this saves every decision a lookup; a repeat pays for one evaluation.
        try:
            return _decide(agent, data, now), True
        except IntegrityError:
            existing = _stored(agent, data.idempotency_key)
            if existing is None:
                raise
            # The key is bound to what was decided: the stored answer is for exactly that
            # action, resource and params, never a way to launder an allow onto another.
            digest = action_digest(data.action, data.resource, data.params or {})
            if existing.digest != digest:
                _idempotency_conflict_record(agent, data, existing, digest, now)
                raise Conflict(
                    "idempotency_key was already used for a different action, resource or params",
                    code="idempotency_conflict",
                ) from None
            return existing, False
    except DatabaseError as exc:
        logger.exception("decide could not reach the database; denying", extra={"agent": agent.name, "action": data.action})
        raise Unavailable(f"decision store unavailable ({type(exc).__name__}); treat as deny") from exc


@transaction.atomic
def _idempotency_conflict_record(agent: Agent, data: DecideInput, existing: DecisionRequest, digest: str,
                                 now: datetime) -> None:
    """Audit a reused key in a transaction of its own: the decision's rolled back."""
    # Lock order as for a decision: the agent's row, then (inside audit_record) its chain head.
    agent = lock_agent(agent.pk)
    logger.warning("idempotency key reused for another action; refused",
                   extra={"agent": agent.name, "action": data.action, "stored_request": str(existing.id)})
    audit_record(
        kind="decision.idempotency_conflict",
        actor=f"agent:{agent.name}",
        agent=agent,
        at=now,
        payload={
            "idempotency_key": data.idempotency_key,
            "stored_request": str(existing.id),
            "stored_digest": existing.digest,
            "action": data.action,
            "resource": data.resource,
            "digest": digest,
        },
    )


@transaction.atomic
def _decide(agent: Agent, data: DecideInput, now: datetime) -> DecisionRequest:
    from governance.violations import anomaly_riders, violation_anomaly, violation_record

    # Lock the agent (governance/locks.py: agent -> sequence keys -> escalation -> chain
    # head): one decision per agent at a time keeps its counts exact and its audit chain
    # ordered, without making other agents wait.
    # PostgreSQL: the facts about this resource (facts.py) and the head of the agent's audit
    # chain (audit.py) ride on the lock's statement.
    facts_query, head_query = facts_subquery(data.resource), head_subquery(agent)
    agent = lock_agent(agent.pk, also=tuple(q for q in (facts_query, head_query) if q is not None))
    if head_query is not None:
        head_seen(agent, agent.also[-1])
    params, context = data.params or {}, data.context or {}
    # Compiled once per envelope version and process; the row is read only on a miss.
    envelope_id = agent.active_envelope_id
    supervised = agent.breaker_tripped
    facts_in_force = None
    compiled = shadow = None
    try:
        compiled = envelope_compiled_by_pk(envelope_id, agent.envelope_created_at) if envelope_id is not None else None
        # Sequences read other agents' rows: their keys are locked before anything is read.
        lock_sequence_keys(sequence_keys(compiled, data.action, data.resource, context))
        if compiled is not None and compiled.mode == "supervised":
            supervised = True
        # The facts about this resource (one indexed query), the CEL variable `facts`.
        if facts_query is not None:
            facts_in_force = facts_from_rows(agent.also[0], data.resource)
        else:
            facts_in_force = facts_for_resource(data.resource)
        request = PolicyRequest(
            action=data.action,
            resource=data.resource,
            params=params,
            context=context,
            agent=agent.name,
            now=now,
            agent_mode="supervised" if supervised else "enforce",
            agent_suspended=agent.is_suspended,
            facts=facts_in_force.values,
        )
        state = shadow_state(agent, DatabaseState(agent))
        decision = evaluate(compiled, request, state)
        # The shadow envelope (if any) on the same state, before this request is written.
        shadow = shadow_evaluate(agent=agent, request=request, state=state)
    except DatabaseError:
        raise
    except Exception as exc:
        logger.exception("could not prepare evaluation; denying", extra={"agent": agent.name})
        decision = Decision("deny", [Reason("governance_error", f"{type(exc).__name__}: {exc}")])

    escalation = decision.escalation if decision.decision == "escalate" else None
    row = DecisionRequest(
        agent=agent,
        action=data.action,
        resource=data.resource,
        params=params,
        context=context,
        input_source=str(context.get("input_source", ""))[:16],
        session=str(context.get("session", ""))[:200],
        idempotency_key=data.idempotency_key or None,
        digest=action_digest(data.action, data.resource, params),
        decision=decision.decision,
        status=decision.status,
        reasons=[r.as_dict() for r in decision.reasons],
        risk=decision.risk_dict(),
        violation=decision.violation,
        envelope_id=envelope_id if decision.envelope_version is not None else None,
        envelope_version=decision.envelope_version,
        capability=decision.capability,
        # {} when no facts version exists yet; otherwise which version was consulted and what matched.
        facts=facts_in_force.as_dict() if facts_in_force is not None and facts_in_force.version else {},
        agent_mode="supervised" if supervised else "enforce",
        created_at=now,
        expires_at=now + timedelta(seconds=escalation.ttl_seconds) if escalation else None,
    )
    # The row and its event: one statement on PostgreSQL (governance/audit.py); a violation's
    # anomaly row too (governance/violations.py).
    anomaly = violation_anomaly(request=row, agent=agent) if decision.violation else None
    audit_record(
        kind=f"decision.{decision.decision}",
        actor=f"agent:{agent.name}",
        agent=agent,
        request_id=row.id,
        at=now,
        payload={
            "action": row.action,
            "resource": row.resource,
            "digest": row.digest,
            "reasons": row.reasons,
            "risk": row.risk["score"],
            "envelope_version": row.envelope_version,
            "mode": row.agent_mode,
            **({"facts": {"version": row.facts["version"], "matched": row.facts["matched"]}} if row.facts else {}),
            **request_id_fields(),
        },
        row=row,
        riders=anomaly_riders(anomaly),
    )
    if escalation is not None:
        escalation_open(request=row, spec=escalation)
    if decision.violation:
        violation_record(request=row, agent=agent, compiled=compiled, anomaly=anomaly)
    reliability_record(agent=agent, row=row, compiled=compiled, shadow=shadow)
    if agent.last_seen_at is None or now - agent.last_seen_at > timedelta(seconds=60):
        Agent.objects.filter(pk=agent.pk).update(last_seen_at=now)
    return row


def effective_status(row: DecisionRequest, now: datetime | None = None) -> str:
    """A pending request past its deadline is expired, whether or not a worker has run."""
    if row.status == DecisionRequest.Status.PENDING and row.expires_at and row.expires_at <= (now or timezone.now()):
        return DecisionRequest.Status.EXPIRED
    return row.status
