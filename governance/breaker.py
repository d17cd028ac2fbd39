"""The circuit breaker (SPEC §5): enough violations inside the envelope's breaker window put
the agent in supervised mode (every allow becomes an escalation) until an admin resets it.

Tripping runs inside the decide transaction that recorded the violation, under the agent
row lock, so two violations at once trip it exactly once. Trip and reset take the agent's lock
first (governance/locks.py), before the audit chain head.
"""

from datetime import datetime, timedelta
from functools import cache

from django.db import connection, transaction
from django.utils import timezone

from governance.actors import admin_actor
from governance.audit import audit_record
from governance.errors import Conflict
from governance.locks import lock_agent, require_agent
from governance.models import Agent, DecisionRequest
from governance.policy.durations import format_duration
from governance.rows import Rider
from governance.signals import breaker_reset as breaker_reset_signal
from governance.signals import breaker_tripped as breaker_tripped_signal
from governance.signals import send_after_commit
from shared.db import prepared_cursor


def breaker_violations(*, agent: Agent, window: int, now: datetime, limit: int) -> int:
    """Violations counted toward the breaker: inside the window and after the last reset,
    counted up to `limit` (the threshold: whether it is reached is all the breaker asks, so
    the count reads at most that many index entries, however many violations the window holds)."""
    # Plain SQL (one index range scan, as the ORM's count): this runs on every violation, and
    # building the ORM statement cost more CPU than the database spent answering it.
    with prepared_cursor() as cursor:
        cursor.execute(_violations_sql(), _violations_params(agent, window, now, limit))
        return cursor.fetchone()[0]


def breaker_count_rider(*, agent: Agent, breaker: dict | None, now: datetime) -> Rider | None:
    """breaker_violations() as a rider of the statement appending the violation's audit event
    (PostgreSQL; governance/rows.py): the count is read back into its `value`. None when
    breaker_check() will not count (no breaker, already tripped), and elsewhere than PostgreSQL."""
    if not breaker or agent.breaker_tripped or connection.vendor != "postgresql":
        return None
    return Rider(f"breaker_count AS ({_violations_sql()})",
                 _violations_params(agent, breaker["window"], now, breaker["violations"]),
                 "(SELECT * FROM breaker_count)")


def _violations_params(agent: Agent, window: int, now: datetime, limit: int) -> list:
    since = now - timedelta(seconds=window)
    if agent.breaker_reset_at and agent.breaker_reset_at > since:
        since = agent.breaker_reset_at
    return [agent.pk, True, connection.ops.adapt_datetimefield_value(since), limit]


@cache
def _violations_sql() -> str:
    q = connection.ops.quote_name
    field = DecisionRequest._meta.get_field
    return (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {q(DecisionRequest._meta.db_table)} WHERE {q(field('agent').column)} = %s "
        f"AND {q(field('violation').column)} = %s AND {q(field('created_at').column)} > %s LIMIT %s) AS v"
    )


def breaker_check(*, agent: Agent, breaker: dict | None, now: datetime, count: int | None = None) -> bool:
    """After a violation: trip the breaker if the envelope's threshold is reached. `count`:
    breaker_violations() as already read (breaker_count_rider), else it is read here."""
    if not breaker or agent.breaker_tripped:
        return False
    if count is None:
        count = breaker_violations(agent=agent, window=breaker["window"], now=now, limit=breaker["violations"])
    if count < breaker["violations"]:
        return False
    # Checked at every violation, so the count reaches the threshold exactly; a window holding
    # more (only after the threshold was lowered) is still counted up to the threshold.
    reason = f"{count} violations within {format_duration(breaker['window'])} (threshold {breaker['violations']})"
    return breaker_trip(agent=agent, reason=reason, at=now, details={"violations": count, "threshold": breaker["violations"], "window": breaker["window"]})


@transaction.atomic
def breaker_trip(*, agent: Agent, reason: str, at: datetime | None = None, details: dict | None = None) -> bool:
    """Put the agent in supervised mode. False when it already was (nothing recorded)."""
    at = at or timezone.now()
    require_agent(agent.pk)  # held already inside decide
    if not Agent.objects.filter(pk=agent.pk, breaker_tripped_at__isnull=True).update(
        breaker_tripped_at=at, breaker_reason=reason
    ):
        return False
    agent.breaker_tripped_at, agent.breaker_reason = at, reason
    audit_record(
        kind="breaker.tripped", actor="system:breaker", agent=agent, at=at,
        payload={"reason": reason, **(details or {})},
    )
    send_after_commit(breaker_tripped_signal, agent_id=agent.pk, reason=reason)
    return True


@transaction.atomic
def breaker_reset(*, agent: Agent, by=None) -> Agent:
    """Admin only: end supervised mode. Conflict when the breaker is not tripped."""
    actor = admin_actor(by)
    locked = lock_agent(agent.pk)
    if not locked.breaker_tripped:
        raise Conflict(f"the breaker of {agent.name} is not tripped")
    now = timezone.now()
    payload = {"tripped_at": locked.breaker_tripped_at.isoformat(), "reason": locked.breaker_reason}
    Agent.objects.filter(pk=agent.pk).update(breaker_tripped_at=None, breaker_reason="", breaker_reset_at=now)
    audit_record(kind="breaker.reset", actor=actor, agent=locked, at=now, payload=payload)
    send_after_commit(breaker_reset_signal, agent_id=agent.pk, by=actor.partition(":")[2])
    locked.refresh_from_db()
    return locked
