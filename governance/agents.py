"""Admin actions on an agent's status: suspend (every request denied) and resume."""

from django.db import transaction

from governance.actors import admin_actor
from governance.audit import audit_record
from governance.errors import Conflict
from governance.locks import lock_agent
from governance.models import Agent

ACTIVE, SUSPENDED = Agent.Status.ACTIVE, Agent.Status.SUSPENDED


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
