"""An agent by its token's prefix (every API call), and admin actions on an agent's status:
suspend (every request denied) and resume."""

from functools import cache

from django.db import connection, transaction

from governance.actors import admin_actor
from governance.audit import audit_record
from governance.errors import Conflict
from governance.locks import lock_agent
from governance.models import Agent, AgentToken
from governance.rows import agent_columns, agent_from_row
from shared.db import prepared_cursor

ACTIVE, SUSPENDED = Agent.Status.ACTIVE, Agent.Status.SUSPENDED


def agent_for_token_prefix(prefix: str) -> tuple[str, Agent] | None:
    """(the token's stored digest, its agent) for an unrevoked token with this prefix, else
    None. The caller compares the digest (governance.tokens.token_matches). One prepared
    statement: every API call runs it, and the ORM spent more CPU building it than anything
    else in a bare request (bench/decide_http.py's baseline)."""
    with prepared_cursor() as cursor:
        cursor.execute(_token_sql(), [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    return row[-1], agent_from_row(row)


@cache
def _token_sql() -> str:
    q = connection.ops.quote_name
    token = AgentToken._meta
    return (
        f"SELECT {agent_columns('a')}, t.{q(token.get_field('digest').column)} FROM {q(token.db_table)} t "
        f"JOIN {q(Agent._meta.db_table)} a ON a.{q(Agent._meta.pk.column)} = t.{q(token.get_field('agent').column)} "
        f"WHERE t.{q(token.get_field('prefix').column)} = %s AND t.{q(token.get_field('revoked_at').column)} IS NULL"
    )


def _set_status(*, agent: Agent, by, to: str, kind: str, reason: str) -> Agent:
    actor = admin_actor(by)
    frm = SUSPENDED if to == ACTIVE else ACTIVE
    # The agent's lock first (governance/locks.py), then a conditional update: two admins
    # clicking at once produce one change and one Conflict.
    lock_agent(agent.pk)
    if not Agent.objects.filter(pk=agent.pk, status=frm).update(status=to):
        raise Conflict(f"{agent.name} is already {to}")
    agent.refresh_from_db()
    audit_record(kind=kind, actor=actor, agent=agent, payload={"status": to, "reason": reason})
    return agent


@transaction.atomic
def agent_suspend(*, agent: Agent, by=None, reason: str = "") -> Agent:
    """Deny every request of the agent until it is resumed."""
    return _set_status(agent=agent, by=by, to=SUSPENDED, kind="agent.suspended", reason=reason)


@transaction.atomic
def agent_resume(*, agent: Agent, by=None, reason: str = "") -> Agent:
    """Let a suspended agent ask again (its envelope and breaker apply as before)."""
    return _set_status(agent=agent, by=by, to=ACTIVE, kind="agent.resumed", reason=reason)
