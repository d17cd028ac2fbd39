"""Resource facts: apply a version, export it, look up the facts in force for a resource (one
indexed query), and the "remember this" proposals an admin accepts. Format and the merge rule:
governance/policy/facts.py and docs/facts.md."""

import json
import logging
from datetime import datetime
from functools import cache

import yaml
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from governance.actors import admin_actor, audit_actor
from governance.audit import audit_record
from governance.errors import Conflict, InvalidInput, NotFound
from governance.knowledge_models import Fact, FactProposal, FactSet
from governance.locks import lock_chain_head
from governance.policy.facts import (
    NO_FACTS,
    FactEntry,
    FactsError,
    FactsInForce,
    facts_document,
    merge,
    validate_facts,
)
from governance.policy.limits import MAX_ENVELOPE_BYTES
from governance.policy.source import SourceError, load_yaml
from shared.db import prepared_cursor

logger = logging.getLogger("airlock.facts")


def facts_validate(source: str) -> tuple[dict, list[FactEntry]]:
    """YAML text to (normalised document, entries), or InvalidInput naming the entry."""
    try:
        raw = load_yaml(source, max_bytes=MAX_ENVELOPE_BYTES * 8, max_nodes=200_000, what="facts file")
    except SourceError as exc:
        raise InvalidInput(str(exc), code="invalid_yaml") from None
    try:
        entries = validate_facts(raw)
    except FactsError as exc:
        raise InvalidInput(str(exc), code="invalid_facts") from None
    return facts_document(entries), entries


def facts_to_yaml(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def facts_current() -> FactSet | None:
    return FactSet.objects.order_by("-version").first()


def facts_apply(*, source: str, by=None, via: str = "cli", comment: str = "") -> FactSet:
    """Validate, store as the next version and put it in force. Conflict when another version
    was applied at the same moment (the caller retries)."""
    document, entries = facts_validate(source)
    try:
        return _facts_apply(source, document, entries, by, via, comment)
    except IntegrityError:
        raise Conflict("another facts version was applied at the same time; try again", code="facts_conflict") from None


@transaction.atomic
def _facts_apply(source, document, entries, by, via, comment) -> FactSet:
    actor = admin_actor(by) if by is not None else audit_actor(None)
    # Applies are serialised on the system chain's head (the lock audit_record takes anyway).
    lock_chain_head("system")
    previous = facts_current()
    factset = FactSet.objects.create(
        version=(previous.version if previous else 0) + 1, source=source, document=document,
        created_by=by, created_via=via, comment=comment,
    )
    Fact.objects.all().delete()
    Fact.objects.bulk_create(
        [Fact(version=factset.version, resource=e.resource, literal=e.literal, values=e.values, position=e.position)
         for e in entries],
        batch_size=1000,
    )
    audit_record(
        kind="facts.applied", actor=actor,
        payload={
            "version": factset.version,
            "previous_version": previous.version if previous else None,
            "via": via,
            "comment": comment,
            "count": len(entries),
            "document": document,
        },
    )
    return factset


# Entries of the version in force, compiled once per process: (version, position, resource)
# -> FactEntry. The glob rows come back with every lookup; parsing them again each time would
# cost more than the query.
_entries: dict[tuple, FactEntry] = {}
_ENTRIES_MAX = 50_000


def _entry(version: int, resource: str, values: dict, position: int) -> FactEntry:
    key = (version, position, resource)
    entry = _entries.get(key)
    if entry is None or entry.values != values:
        if len(_entries) >= _ENTRIES_MAX:
            _entries.clear()
        entry = _entries[key] = FactEntry(resource, values, position)
    return entry


@cache
def _lookup_sql() -> str:
    """The lookup's statement, built once per process: the ORM spent more CPU building the
    union on every decision than the database spent answering it."""
    q = connection.ops.quote_name
    table = q(Fact._meta.db_table)
    columns = ", ".join(q(Fact._meta.get_field(name).column) for name in ("version", "resource", "values", "position"))
    literal, resource = q(Fact._meta.get_field("literal").column), q(Fact._meta.get_field("resource").column)
    return (
        f"SELECT {columns} FROM {table} WHERE {literal} = %s AND {resource} = %s "
        f"UNION ALL SELECT {columns} FROM {table} WHERE {literal} = %s"
    )


def facts_for_resource(resource: str) -> FactsInForce:
    """The facts in force for a resource: one query, two index scans (the exact name by
    equality on (literal, resource); the glob entries, which are few, by the partial index
    fact_globs), merged by the engine's rule. Raises DatabaseError, which decide turns into a
    503 deny."""
    with prepared_cursor() as cursor:
        cursor.execute(_lookup_sql(), [True, resource, False])
        rows = cursor.fetchall()
    return facts_from_rows(rows, resource)


def facts_subquery(resource: str) -> tuple[str, list] | None:
    """The same lookup as one scalar value (a jsonb array of [version, resource, values,
    position]) for a statement that reads it beside something else: decide's agent lock
    (governance/locks.py, `also`). None where that is not available (SQLite): then call
    facts_for_resource(). Facts are not ordered by the agent's lock, so reading them in that
    statement's snapshot is the same as reading them just before it."""
    if connection.vendor != "postgresql":
        return None
    return _subquery_sql(), [True, resource, False]


@cache
def _subquery_sql() -> str:
    return (
        "(SELECT jsonb_agg(jsonb_build_array(f.version, f.resource, f.values, f.position)) "
        f"FROM ({_lookup_sql()}) AS f)"
    )


def facts_from_rows(rows, resource: str) -> FactsInForce:
    """FactsInForce from the lookup's rows (version, resource, values, position), in its order;
    or from facts_subquery's value (its JSON text: Django's connections load jsonb as text)."""
    if isinstance(rows, str):
        rows = json.loads(rows)
    if not rows:
        return NO_FACTS
    field = Fact._meta.get_field("values")
    version = rows[0][0]
    return merge(
        [_entry(v, r, values if isinstance(values, dict) else field.from_db_value(values, None, connection), p)
         for v, r, values, p in rows],
        resource, version,
    )


def fact_propose(*, request_id, resource: str, values: dict, by, now: datetime | None = None) -> FactProposal:
    """An approver's "remember this": stored for an admin to accept. Validated like an entry."""
    try:
        validate_facts({"facts": [{"resource": resource, **values}]})
    except FactsError as exc:
        raise InvalidInput(str(exc).replace("facts[0]", "proposal"), code="invalid_facts") from None
    return _fact_propose(request_id, resource, values, by, now or timezone.now())


@transaction.atomic
def _fact_propose(request_id, resource, values, by, now) -> FactProposal:
    proposal = FactProposal.objects.create(
        request_id=request_id, resource=resource, values=values, proposed_by=by, created_at=now,
    )
    audit_record(
        kind="facts.proposed", actor=audit_actor(by), request_id=request_id, at=now,
        payload={"proposal": proposal.pk, "resource": resource, "values": values},
    )
    return proposal


def fact_proposal_decide(*, proposal_id: int, accept: bool, by) -> FactProposal:
    """Accept (a new facts version with the entry added, or merged into the entry with the same
    pattern) or reject an open proposal."""
    admin_actor(by)
    try:
        return _fact_proposal_decide(proposal_id, accept, by)
    except IntegrityError:
        raise Conflict("another facts version was applied at the same time; try again", code="facts_conflict") from None


@transaction.atomic
def _fact_proposal_decide(proposal_id, accept, by) -> FactProposal:
    now = timezone.now()
    proposal = FactProposal.objects.select_for_update().filter(pk=proposal_id).first()
    if proposal is None:
        raise NotFound("no such proposal")
    if proposal.state != FactProposal.State.OPEN:
        raise Conflict(f"the proposal is already {proposal.state}", code="proposal_decided")
    version = None
    if accept:
        current = facts_current()
        items = [dict(item) for item in (current.document["facts"] if current else [])]
        same = next((item for item in items if item["resource"] == proposal.resource), None)
        if same is not None:
            same.update(proposal.values)
        else:
            items.append({"resource": proposal.resource, **proposal.values})
        source = facts_to_yaml({"facts": items})
        document, entries = facts_validate(source)
        version = _facts_apply(source, document, entries, by, "proposal", f"proposal {proposal.pk}").version
    FactProposal.objects.filter(pk=proposal.pk).update(
        state=FactProposal.State.ACCEPTED if accept else FactProposal.State.REJECTED,
        decided_by=by, decided_at=now, factset_version=version,
    )
    audit_record(
        kind="facts.proposal_accepted" if accept else "facts.proposal_rejected", actor=admin_actor(by),
        request_id=proposal.request_id,
        payload={"proposal": proposal.pk, "resource": proposal.resource, "values": proposal.values, "version": version},
    )
    proposal.refresh_from_db()
    return proposal
