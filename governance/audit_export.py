"""Audit events as JSON Lines (used by the command and the admin export)."""

from collections.abc import Iterator
from datetime import datetime

from governance.canonical import canonical_json
from governance.models import AuditEvent


def audit_event_dict(event: AuditEvent) -> dict:
    return {
        "id": event.id,
        "chain": event.chain,
        "seq": event.seq,
        "at": event.created_at.isoformat(),
        "kind": event.kind,
        "actor": event.actor,
        "agent_id": event.agent_id,
        "request_id": str(event.request_id) if event.request_id else None,
        "payload": event.payload,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def audit_events_jsonl(*, since: datetime | None = None, queryset=None) -> Iterator[str]:
    rows = queryset if queryset is not None else AuditEvent.objects.all()
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    for event in rows.order_by("created_at", "id").iterator(chunk_size=2000):
        yield canonical_json(audit_event_dict(event))
