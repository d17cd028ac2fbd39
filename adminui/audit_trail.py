"""The audit trail page's reads: filters and keyset (seek) pagination, newest first.

OFFSET pagination reads and throws away every row before the page; on a million events
the last pages would take seconds. A cursor names the last row shown (its time and id),
and the next page starts right there in the index, so every page costs the same.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Q, QuerySet

from governance.models import Agent, AuditEvent

PAGE_SIZE = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

@dataclass(frozen=True)
class AuditFilter:
    agent: Agent | None = None
    kind: str = ""
    actor: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def queryset(self) -> QuerySet[AuditEvent]:
        rows = AuditEvent.objects.all()
        if self.agent is not None:
            rows = rows.filter(agent=self.agent)
        if self.kind.endswith("*"):
            # A family is the list of its kinds: kind IN (...) lets PostgreSQL pick the kind
            # index for rare families and the time index for common ones; a LIKE prefix
            # would read the whole table when the family is rare.
            rows = rows.filter(kind__in=[k for k in audit_kinds() if k.startswith(self.kind[:-1])])
        elif self.kind:
            rows = rows.filter(kind=self.kind)
        if self.actor:
            rows = rows.filter(actor=self.actor)
        if self.since:
            rows = rows.filter(created_at__gte=self.since)
        if self.until:
            rows = rows.filter(created_at__lt=self.until)
        return rows

    @property
    def active(self) -> bool:
        return any((self.agent, self.kind, self.actor, self.since, self.until))


def audit_kinds() -> list[str]:
    """Every kind in the trail, sorted. On PostgreSQL a loose index scan: one probe of the
    (kind, created_at) index per distinct kind, not a read of a million rows."""
    if connection.vendor != "postgresql":
        return list(AuditEvent.objects.order_by("kind").values_list("kind", flat=True).distinct())
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH RECURSIVE kinds(kind) AS (
                  (SELECT kind FROM {table} ORDER BY kind LIMIT 1)
                  UNION ALL
                  SELECT (SELECT t.kind FROM {table} t WHERE t.kind > kinds.kind ORDER BY t.kind LIMIT 1)
                  FROM kinds WHERE kinds.kind IS NOT NULL
                ) SELECT kind FROM kinds WHERE kind IS NOT NULL"""
        )
        return [row[0] for row in cursor.fetchall()]


def kind_choices() -> list[str]:
    """What the kind filter offers: each family ("decision.*") followed by its kinds."""
    out: list[str] = []
    for kind in audit_kinds():
        family = kind.split(".", 1)[0] + ".*"
        if "." in kind and family not in out:
            out.append(family)
        out.append(kind)
    return out


def cursor_of(event: AuditEvent) -> str:
    # Integer microseconds since the epoch: exact, unlike float timestamps.
    micros = (event.created_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}-{event.pk}"


def cursor_parse(text: str) -> tuple[datetime, int] | None:
    micros, _, pk = (text or "").partition("-")
    if not (micros.isdigit() and pk.isdigit()):
        return None
    return EPOCH + timedelta(microseconds=int(micros)), int(pk)


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    older: str | None  # cursor for the next (older) page
    newer: str | None  # cursor for the previous (newer) page


def audit_page(*, filters: AuditFilter, before: str = "", after: str = "", size: int | None = None) -> AuditPage:
    """One page of events, newest first, starting after `before` or ending before `after`."""
    size = size or PAGE_SIZE
    rows = filters.queryset().select_related("agent")
    seek_before, seek_after = cursor_parse(before), cursor_parse(after)
    if seek_after and not seek_before:
        at, pk = seek_after
        # created_at >= at is what the index can range over; the OR only breaks ties.
        chunk = list(
            rows.filter(created_at__gte=at).filter(Q(created_at__gt=at) | Q(pk__gt=pk)).order_by("created_at", "id")[
                : size + 1
            ]
        )
        more_newer = len(chunk) > size
        events = list(reversed(chunk[:size]))
        return AuditPage(
            events=events,
            older=cursor_of(events[-1]) if events else None,
            newer=cursor_of(events[0]) if events and more_newer else None,
        )
    if seek_before:
        at, pk = seek_before
        rows = rows.filter(created_at__lte=at).filter(Q(created_at__lt=at) | Q(pk__lt=pk))
    chunk = list(rows.order_by("-created_at", "-id")[: size + 1])
    events = chunk[:size]
    return AuditPage(
        events=events,
        older=cursor_of(events[-1]) if len(chunk) > size else None,
        newer=cursor_of(events[0]) if events and seek_before else None,
    )
