"""Incident attribution: every agent action on the resources an incident touched, oldest first
(the trace), incidents recorded by people, and the actions they mark as contributing.

The trace reads DecisionRequest by resource: an exact name by equality, a glob by the LIKE
prefix before its first wildcard (served on PostgreSQL by the varchar_pattern_ops index
req_resource_prefix) and then the glob itself in Python, in keyset pages of (created_at, id).
"""

from collections.abc import Iterator
from datetime import datetime, timedelta
from json.encoder import encode_basestring_ascii

from django.db import IntegrityError, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from governance.actors import admin_actor
from governance.audit import audit_record
from governance.errors import Conflict, InvalidInput, NotFound
from governance.knowledge_models import Incident, IncidentContribution
from governance.models import DecisionRequest
from governance.policy.facts import literal_prefix
from governance.policy.globs import glob_matcher, parse_glob

PAGE = 5000
DEFAULT_LOOKBACK = timedelta(days=14)
TRACE_FIELDS = ("id", "agent", "action", "resource", "decision", "status", "decided_by", "outcome", "reasons",
                "envelope_version", "session", "created_at")
_COLUMNS = ("id", "agent__name", "action", "resource", "decision", "status", "expires_at", "decided_by", "reported_outcome",
            "reasons", "envelope_version", "session", "created_at", "context__reasoning")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


def _resource_filter(patterns: list[str]) -> Q:
    q = Q()
    for pattern in patterns:
        if parse_glob(pattern).literal:
            q |= Q(resource=pattern)
        else:
            prefix = literal_prefix(pattern)
            q |= Q(resource__startswith=prefix) if prefix else Q()
            if not prefix:  # "*..." reads every row in the window: say --since
                return Q()
    return q


def _pages(resources: list[str], since, until, page: int, columns: tuple, annotations: dict | None = None):
    """Rows (tuples of `columns`) matching the globs, oldest first, in keyset pages."""
    if not resources or any(not isinstance(p, str) or not p for p in resources):
        raise InvalidInput("give at least one resource glob", code="invalid_request")
    matchers = [glob_matcher(p) for p in resources]
    base = DecisionRequest.objects.filter(_resource_filter(resources))
    if since is not None:
        base = base.filter(created_at__gte=since)
    if until is not None:
        base = base.filter(created_at__lte=until)
    if annotations:
        base = base.annotate(**annotations)
    at, pk, res = columns.index("created_at"), columns.index("id"), columns.index("resource")
    last = None
    while True:
        rows = base if last is None else base.filter(Q(created_at__gt=last[0]) | Q(created_at=last[0], id__gt=last[1]))
        batch = list(rows.order_by("created_at", "id").values_list(*columns)[:page])
        for row in batch:
            if any(match(row[res]) for match in matchers):
                yield row
        if len(batch) < page:
            return
        last = (batch[-1][at], batch[-1][pk])


def trace(*, resources: list[str], since: datetime | None = None, until: datetime | None = None,
          page: int = PAGE) -> Iterator[dict]:
    """Every request by any agent on resources matching any of the globs, oldest first; each a
    dict of TRACE_FIELDS (plus `reasoning`, the agent's stated reason, for people)."""
    for row in _pages(resources, since, until, page, _COLUMNS):
        yield _line(dict(zip(_COLUMNS, row, strict=True)))


# The JSON columns as the database's own JSON text: the JSON-lines output splices them in
# instead of decoding and re-encoding every value (most of the cost of a long trace).
_RAW_COLUMNS = ("id", "agent__name", "action", "resource", "decision", "status", "expires_at", "decided_by_json",
                "outcome_json", "reasons_json", "envelope_version", "session", "created_at")
_RAW_ANNOTATIONS = {
    "decided_by_json": Cast("decided_by", TextField()),
    "outcome_json": Cast("reported_outcome", TextField()),
    "reasons_json": Cast("reasons", TextField()),
}


def trace_jsonl(*, resources: list[str], since: datetime | None = None, until: datetime | None = None,
                page: int = PAGE) -> Iterator[str]:
    """trace() as ready JSON lines (exactly TRACE_FIELDS, in that order)."""
    text, now = encode_basestring_ascii, timezone.now()
    for (pk, agent, action, resource, decision, status, expires_at, decided_by, outcome, reasons, version,
         session, created_at) in _pages(resources, since, until, page, _RAW_COLUMNS, _RAW_ANNOTATIONS):
        if status == DecisionRequest.Status.PENDING and expires_at and expires_at <= now:
            status = DecisionRequest.Status.EXPIRED
        yield (f'{{"id":"{pk}","agent":{text(agent)},"action":{text(action)},"resource":{text(resource)},'
               f'"decision":{text(decision)},"status":{text(status)},"decided_by":{decided_by or "[]"},'
               f'"outcome":{outcome or "null"},"reasons":{reasons or "[]"},'
               f'"envelope_version":{"null" if version is None else int(version)},"session":{text(session)},'
               f'"created_at":"{_iso(created_at)}"}}')


def _line(v: dict) -> dict:
    status = v["status"]
    if status == DecisionRequest.Status.PENDING and v["expires_at"] and v["expires_at"] <= timezone.now():
        status = DecisionRequest.Status.EXPIRED
    # Only the reasoning is read out of the context (a key lookup in SQL, not the whole JSON).
    reasoning = v["context__reasoning"]
    return {
        "id": str(v["id"]),
        "agent": v["agent__name"],
        "action": v["action"],
        "resource": v["resource"],
        "decision": v["decision"],
        "status": status,
        "decided_by": v["decided_by"],
        "outcome": v["reported_outcome"],
        "reasons": v["reasons"],
        "envelope_version": v["envelope_version"],
        "session": v["session"],
        "created_at": _iso(v["created_at"]),
        "reasoning": reasoning if isinstance(reasoning, str) else "",
    }


def trace_json(line: dict) -> dict:
    """The JSON line incident_trace prints: exactly TRACE_FIELDS."""
    return {k: line[k] for k in TRACE_FIELDS}


def _cell(text) -> str:
    return str(text if text not in (None, "") else "—").replace("|", "\\|").replace("\n", " ")


def trace_markdown(lines: list[dict], *, title: str, contributing: set[str] | None = None) -> str:
    """A Markdown section for a postmortem: one table row per agent action."""
    out = [f"## {title}", ""]
    if not lines:
        out.append("No agent action on these resources in this window.")
        return "\n".join(out) + "\n"
    out.append("| time (UTC) | agent | action | resource | decision | approved by | outcome | reasoning |"
               + (" contributing |" if contributing is not None else ""))
    out.append("|---|---|---|---|---|---|---|---|" + ("---|" if contributing is not None else ""))
    for line in lines:
        outcome = line["outcome"]
        outcome_text = f"{outcome['status']}: {outcome['detail']}".rstrip(": ") if outcome else ""
        approvers = ", ".join(line["decided_by"]) if line["decided_by"] else ""
        status = line["status"] if line["decision"] != "escalate" else f"escalate → {line['status']}"
        row = [line["created_at"][:19].replace("T", " "), line["agent"], line["action"], line["resource"], status, approvers, outcome_text,
               line["reasoning"]]
        text = "| " + " | ".join(_cell(c) for c in row) + " |"
        if contributing is not None:
            text += " yes |" if line["id"] in contributing else " |"
        out.append(text)
    return "\n".join(out) + "\n"


def incident_record(*, occurred_at: datetime, resources: list[str], summary: str, since: datetime | None = None,
                    by) -> Incident:
    """Record an incident; its trace covers `since` (default 14 days before) to occurred_at."""
    resources = [r.strip() for r in resources if r and r.strip()]
    if not resources:
        raise InvalidInput("name at least one resource (a glob like db:replica-7 or job:nightly-*)", code="invalid_request")
    if any(len(r) > 500 for r in resources):
        raise InvalidInput("a resource glob is at most 500 characters", code="invalid_request")
    if not summary.strip():
        raise InvalidInput("a summary is required", code="invalid_request")
    since = since or occurred_at - DEFAULT_LOOKBACK
    if since > occurred_at:
        raise InvalidInput("the trace must start before the incident", code="invalid_request")
    return _incident_record(occurred_at, resources, summary.strip(), since, by)


@transaction.atomic
def _incident_record(occurred_at, resources, summary, since, by) -> Incident:
    now = timezone.now()
    incident = Incident.objects.create(occurred_at=occurred_at, resources=resources, summary=summary, since=since,
                                       created_by=by, created_at=now)
    audit_record(kind="incident.recorded", actor=admin_actor(by), at=now,
                 payload={"incident": incident.pk, "occurred_at": _iso(occurred_at), "resources": resources,
                          "summary": summary})
    return incident


def incident_trace(incident: Incident) -> list[dict]:
    return list(trace(resources=incident.resources, since=incident.since, until=incident.occurred_at))


@transaction.atomic
def incident_mark(*, incident_id: int, request_id, contributing: bool, by) -> None:
    """Mark (or unmark) an agent action as contributing to the incident. Only actions in the
    incident's trace can be marked."""
    actor = admin_actor(by)
    incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
    if incident is None:
        raise NotFound("no such incident")
    row = DecisionRequest.objects.filter(pk=request_id).select_related("agent").first()
    if row is None or not (incident.since <= row.created_at <= incident.occurred_at) or not any(
        glob_matcher(p)(row.resource) for p in incident.resources
    ):
        raise InvalidInput("that request is not in this incident's trace", code="invalid_request")
    if contributing:
        try:
            with transaction.atomic():
                IncidentContribution.objects.create(incident=incident, request=row, marked_by=by,
                                                    marked_at=timezone.now())
        except IntegrityError:
            raise Conflict("already marked", code="already_marked") from None
    elif not IncidentContribution.objects.filter(incident=incident, request=row).delete()[0]:
        raise Conflict("not marked", code="not_marked")
    audit_record(kind="incident.contribution_marked" if contributing else "incident.contribution_unmarked",
                 actor=actor, request_id=row.id,
                 payload={"incident": incident.pk, "agent": row.agent.name, "action": row.action,
                          "resource": row.resource})


def incident_markdown(incident: Incident) -> str:
    lines = incident_trace(incident)
    marked = {str(pk) for pk in IncidentContribution.objects.filter(incident=incident).values_list("request_id", flat=True)}
    head = (f"Incident {incident.pk} at {_iso(incident.occurred_at)} on {', '.join(incident.resources)}: "
            f"{incident.summary}\n\n")
    contributors = [line for line in lines if line["id"] in marked]
    body = trace_markdown(contributors, title="Contributing agent actions", contributing=None) if marked else ""
    return head + body + "\n" + trace_markdown(
        lines, title=f"Agent actions from {_iso(incident.since)} to {_iso(incident.occurred_at)}", contributing=marked)

