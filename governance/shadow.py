"""Shadow envelopes (issue 15): a candidate version evaluated beside the active one on
every decide. The shadow never answers and has no side effects (no escalation, no counts,
no anomaly, no breaker); each decide where it would have answered differently is stored
as a ShadowDifference, and `shadow_report` / the admin UI show the transition matrix.

Cost: one more engine evaluation per decide, against the same state object the active
version was evaluated with (governance/state.py caches its answers, so a question both
versions ask is answered once). Nothing else is read: the shadow's id and created_at come
with the agent row decide already locked, and its compiled form is cached per process.
"""

import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime

from django.db import DatabaseError, transaction
from django.db.models import Count

from governance.actors import admin_actor, audit_actor
from governance.audit import audit_record
from governance.errors import Conflict, NotFound
from governance.locks import lock_agent
from governance.models import Agent, DecisionRequest, Envelope
from governance.policy import Decision, PolicyRequest, Reason, StateView, evaluate
from governance.reliability_models import ShadowDifference
from governance.services import envelope_compiled_by_pk, envelope_store

logger = logging.getLogger("airlock.shadow")

ANSWERS = ("allow", "escalate", "deny")


@dataclass(frozen=True)
class ShadowOutcome:
    envelope_id: int
    decision: Decision


class SharedState:
    """The state view the active version is evaluated with, remembering every answer so the
    shadow's evaluation asks the database nothing the active version already asked. Only
    used for agents that have a shadow; it forwards to whatever state view decide built
    (how that computes its answers is none of the shadow's business)."""

    def __init__(self, inner: StateView):
        self.inner = inner
        self._memo: dict = {}

    def __getattr__(self, name: str):
        # Anything else the engine may ask of a state view (optional hooks) goes to the
        # state decide built, unchanged.
        return getattr(self.inner, name)

    def prefetch(self, questions: list[tuple[str, dict]]) -> None:
        prefetch = getattr(self.inner, "prefetch", None)
        if prefetch is not None:
            prefetch([(kind, kw) for kind, kw in questions if _memo_key(kind, kw) not in self._memo])

    def _ask(self, kind: str, kw: dict):
        key = _memo_key(kind, kw)
        if key is None:
            return getattr(self.inner, kind)(**kw)
        if key not in self._memo:
            self._memo[key] = getattr(self.inner, kind)(**kw)
        return self._memo[key]

    def count(self, **kw):
        return self._ask("count", kw)

    def total(self, **kw):
        return self._ask("total", kw)

    def seen(self, **kw):
        return self._ask("seen", kw)

    def recent_actions(self, **kw):
        return self._ask("recent_actions", kw)


def _memo_key(kind: str, kw: dict) -> tuple | None:
    key = (kind, tuple(sorted(kw.items())))
    try:
        hash(key)
    except TypeError:  # a params value that is a list or object: asked again, not remembered
        return None
    return key


def shadow_state(agent: Agent, state: StateView) -> StateView:
    """The state view decide evaluates with: unchanged unless the agent has a shadow."""
    return SharedState(state) if agent.shadow_envelope_id is not None else state


def shadow_evaluate(*, agent: Agent, request: PolicyRequest | None, state: StateView | None) -> ShadowOutcome | None:
    """The shadow's answer to the request the active version just decided, or None when the
    agent has no shadow. Called inside decide before the request row is written, so the
    state is the one the active version saw. Never raises for the shadow's sake: a failure
    is the shadow's deny (governance_error), like the engine's own."""
    if agent.shadow_envelope_id is None or request is None or state is None:
        return None
    try:
        compiled = envelope_compiled_by_pk(agent.shadow_envelope_id, agent.shadow_since)
        # The shadow's own `mode` applies inside the engine; only the breaker carries over.
        shadow_request = replace(request, agent_mode="supervised" if agent.breaker_tripped else "enforce")
        decision = evaluate(compiled, shadow_request, state)
    except DatabaseError:
        raise  # the decision cannot be recorded either: decide's 503 path
    except Exception as exc:
        logger.exception("shadow evaluation failed; counting it as the shadow's deny", extra={"agent": agent.name})
        decision = Decision("deny", [Reason("governance_error", f"shadow: {type(exc).__name__}: {exc}")])
    return ShadowOutcome(agent.shadow_envelope_id, decision)


def shadow_record(*, agent: Agent, row: DecisionRequest, outcome: ShadowOutcome | None) -> None:
    """Store a difference between the active answer (row) and the shadow's. In a savepoint:
    a failure to store it is logged and never changes or loses the recorded decision."""
    if outcome is None or outcome.decision.decision == row.decision:
        return
    try:
        with transaction.atomic():
            ShadowDifference.objects.create(
                agent=agent, request=row, shadow_id=outcome.envelope_id,
                active_decision=row.decision, shadow_decision=outcome.decision.decision,
                shadow_reasons=[r.as_dict() for r in outcome.decision.reasons], created_at=row.created_at,
            )
    except DatabaseError:
        logger.exception("could not store a shadow difference", extra={"agent": agent.name, "request": str(row.id)})


@transaction.atomic
def shadow_apply(*, source: str, by=None, via: str = "cli", comment: str = "") -> Envelope:
    """Validate, store as the agent's next version and make it the shadow (the active
    version is unchanged). Replaces any previous shadow."""
    agent, envelope, document = envelope_store(source=source, by=by, via=via, comment=comment)
    previous = agent.shadow_envelope_id
    Agent.objects.filter(pk=agent.pk).update(shadow_envelope=envelope, shadow_since=envelope.created_at)
    audit_record(
        kind="envelope.shadow_applied", actor=audit_actor(by), agent=agent,
        payload={
            "version": envelope.version,
            "active_version": _version(agent.active_envelope_id),
            "previous_shadow_version": _version(previous),
            "via": via,
            "comment": comment,
            "document": document,
        },
    )
    return envelope


def _version(envelope_id: int | None) -> int | None:
    if envelope_id is None:
        return None
    return Envelope.objects.values_list("version", flat=True).get(pk=envelope_id)


@transaction.atomic
def shadow_promote(*, agent: Agent, by=None) -> Envelope:
    """Make the shadow the active version. Conflict when the agent has no shadow."""
    actor = admin_actor(by)
    locked = lock_agent(agent.pk)
    if locked.shadow_envelope_id is None:
        raise Conflict(f"{locked.name} has no shadow envelope", code="no_shadow")
    shadow = Envelope.objects.get(pk=locked.shadow_envelope_id)
    previous = _version(locked.active_envelope_id)
    matrix = shadow_matrix(agent=locked)
    Agent.objects.filter(pk=locked.pk).update(active_envelope=shadow, shadow_envelope=None, shadow_since=None)
    audit_record(
        kind="envelope.activated", actor=actor, agent=locked,
        payload={
            "version": shadow.version,
            "previous_version": previous,
            "via": "shadow_promote",
            "comment": f"shadow v{shadow.version} promoted",
            "document": shadow.document,
            "shadow_matrix": matrix,
        },
    )
    return shadow


@transaction.atomic
def shadow_discard(*, agent: Agent, by=None) -> Envelope:
    """Stop evaluating the shadow (the version stays stored). Conflict when there is none."""
    actor = admin_actor(by)
    locked = lock_agent(agent.pk)
    if locked.shadow_envelope_id is None:
        raise Conflict(f"{locked.name} has no shadow envelope", code="no_shadow")
    shadow = Envelope.objects.get(pk=locked.shadow_envelope_id)
    Agent.objects.filter(pk=locked.pk).update(shadow_envelope=None, shadow_since=None)
    audit_record(kind="envelope.shadow_discarded", actor=actor, agent=locked, payload={"version": shadow.version})
    return shadow


def shadow_matrix(*, agent: Agent) -> dict:
    """{"shadow_version", "since", "total", "changed", "matrix": {active: {shadow: n}}} for the
    agent's current shadow: every request recorded since the shadow was applied."""
    if agent.shadow_envelope_id is None:
        raise NotFound(f"{agent.name} has no shadow envelope")
    since: datetime = agent.shadow_since
    totals = Counter(dict(
        DecisionRequest.objects.filter(agent=agent, created_at__gte=since)
        .values_list("decision").annotate(n=Count("id")).values_list("decision", "n")
    ))
    cells = (
        ShadowDifference.objects.filter(agent=agent, shadow_id=agent.shadow_envelope_id, request__created_at__gte=since)
        .values_list("active_decision", "shadow_decision").annotate(n=Count("id"))
    )
    matrix = {a: dict.fromkeys(ANSWERS, 0) for a in ANSWERS}
    changed = 0
    for active, shadow, n in cells:
        matrix.setdefault(active, dict.fromkeys(ANSWERS, 0))[shadow] = n
        changed += n
    for answer in ANSWERS:
        matrix[answer][answer] = max(0, totals.get(answer, 0) - sum(n for s, n in matrix[answer].items() if s != answer))
    return {
        "agent": agent.name,
        "shadow_version": _version(agent.shadow_envelope_id),
        "active_version": _version(agent.active_envelope_id),
        "since": since.isoformat(),
        "total": sum(totals.values()),
        "changed": changed,
        "matrix": matrix,
    }
