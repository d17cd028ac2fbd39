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


class AuditFollower:
    """Tail the audit trail in id order, resumable from an id (the cursor is each line's "id").

    Ids come from a sequence, and a transaction may commit id 11 before id 10: a follower that
    passed 11 would never see 10. So a gap stops the stream until it fills, or until it has been
    open for `gap_wait` seconds (a rolled-back transaction leaves a gap that never fills).
    `clock` is injectable (monotonic seconds) so tests need no sleeps.
    """

    def __init__(self, *, after_id: int = 0, gap_wait: float = 5.0, batch: int = 500, clock=None):
        import time

        self.cursor = after_id
        self.gap_wait = gap_wait
        self.batch = batch
        self.clock = clock or time.monotonic
        self._gap_since: float | None = None

    def poll(self) -> list[AuditEvent]:
        """The events that can be emitted now, in id order; advances the cursor past them."""
        rows = list(AuditEvent.objects.filter(id__gt=self.cursor).order_by("id")[: self.batch])
        out: list[AuditEvent] = []
        for row in rows:
            if row.id != self.cursor + 1:
                now = self.clock()
                if self._gap_since is None:
                    self._gap_since = now
                if now - self._gap_since < self.gap_wait:
                    break  # wait for the missing ids to commit (or for the wait to run out)
            self._gap_since = None
            out.append(row)
            self.cursor = row.id
        return out
