"""The admin UI's own state change: auditing actions that change nothing else.

Everything else the pages do goes through the domain services (agent_create,
agent_token_rotate, envelope_apply, breaker_reset, agent_suspend/agent_resume,
anomaly_retag/anomaly_resolve), which write their own audit events.
"""

from django.db import transaction

from governance.actors import audit_actor
from governance.audit import audit_record
from governance.models import AuditEvent


@transaction.atomic
def admin_event(*, kind: str, by, payload: dict) -> AuditEvent:
    """Audit an admin action that changes nothing else (verifying the chain, exporting)."""
    return audit_record(kind=kind, actor=audit_actor(by), payload=payload)
