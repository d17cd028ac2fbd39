"""The audit trail: append-only, hash-chained per chain.

Each agent has its own chain ("agent:<id>"), people and system actions share "system".
Appending locks only that chain's head row, so decisions by different agents never
wait on each other, while each chain stays strictly ordered and verifiable.

Each event's hash is an HMAC-SHA256 under AUDIT_KEY, a secret kept outside the database, so
whoever can write the database still cannot recompute the chain; `audit_checkpoint`
(governance/audit_checkpoints.py) pins chain heads in files outside the database, so a
chain cut short and its head rolled back is caught too. See docs/audit.md.
"""

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from governance.audit_hashing import GENESIS, ChainBreak, audit_key, keyed_hash
from governance.canonical import canonical_json
from governance.locks import claim_chain_head, lock_chain_head, require_agent
from governance.models import Agent, AuditChainHead, AuditEvent
from governance.rows import (
    Rider,
    insert,
    insert_parts,
    insert_rider,
    inserted,
    rider_written,
    select_placeholders,
)
from shared.db import prepared_cursor

__all__ = ["GENESIS", "ChainBreak", "audit_key", "audit_record", "audit_verify", "keyed_hash"]

SYSTEM_CHAIN = "system"


def chain_for(agent: Agent | None) -> str:
    return f"agent:{agent.pk}" if agent is not None else SYSTEM_CHAIN


def event_body(
    *,
    chain: str,
    seq: int,
    prev_hash: str,
    kind: str,
    actor: str,
    agent_id: int | None,
    request_id: str | None,
    payload: Any,
    created_at: datetime,
) -> str:
    """The canonical text an event's hash covers."""
    return canonical_json(
        {
            "chain": chain,
            "seq": seq,
            "prev": prev_hash,
            "kind": kind,
            "actor": actor,
            "agent": agent_id,
            "request": request_id,
            "payload": payload,
            "at": created_at.isoformat(),
        }
    )


def event_hash(*, key: bytes | None = None, **fields: Any) -> str:
    """The chain hash of one event: HMAC-SHA256 under AUDIT_KEY over event_body(**fields)."""
    return keyed_hash(event_body(**fields), key)


def legacy_event_hash(**fields: Any) -> str:
    """The first release's unkeyed SHA-256; only migration 0004_audit_rekey still reads it."""
    return hashlib.sha256(event_body(**fields).encode()).hexdigest()


_HEAD_TABLE = AuditChainHead._meta.db_table


def _locked_head(chain: str) -> tuple[int, str]:
    """(seq, hash) of the chain's head, its row locked until the transaction ends (last in
    the lock order: governance/locks.py)."""
    head = lock_chain_head(chain)
    if head is not None:
        return head
    try:
        with transaction.atomic():
            AuditChainHead.objects.create(chain=chain, seq=0, hash=GENESIS)
    except IntegrityError:
        pass  # another writer created it first; the lock below waits for them
    return lock_chain_head(chain)


def audit_record(
    *,
    kind: str,
    actor: str,
    payload: dict | None = None,
    agent: Agent | None = None,
    request_id: Any = None,
    chain: str | None = None,
    at: datetime | None = None,
    row=None,
    riders: tuple[Rider, ...] = (),
) -> AuditEvent:
    """Append one event. Must run inside the transaction of the change it records.

    `row`: a new model instance (not yet saved, its primary key set) that the event records;
    it is inserted first, in the same statement as the event where the one-statement append
    applies (PostgreSQL, an agent's chain), else by its own INSERT (governance/rows.py).
    `riders` (PostgreSQL only; governance/rows.py): other writes the event records, run by
    that statement too, or on their own first where it does not apply."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change")
    chain = chain or chain_for(agent)
    if agent is not None:
        # The event's foreign key needs the agent row: its lock comes before the chain head.
        require_agent(agent.pk)
    # Normalise through JSON so the hash is over exactly what the database returns.
    payload = json.loads(canonical_json(payload or {}))
    created_at = at or timezone.now()
    request_id = str(request_id) if request_id else None
    one_statement = connection.vendor == "postgresql" and agent is not None and chain == chain_for(agent)
    cached = _heads.get(chain) if one_statement else None
    if cached is None:
        # No guarded append to ride on: the writes go first, each a statement of its own.
        if row is not None:
            insert(row)
        for rider in riders:
            with prepared_cursor() as cursor:
                cursor.execute(f"WITH {rider.ctes} SELECT {rider.result or 'NULL'}", rider.params)
                (rider.value,) = cursor.fetchone()
            rider_written(rider)
        riders = ()
    elif row is not None:
        riders = (insert_rider(row, "new_row"), *riders)

    def build(head_seq: int, head_hash: str) -> AuditEvent:
        seq = head_seq + 1
        digest = event_hash(
            chain=chain,
            seq=seq,
            prev_hash=head_hash,
            kind=kind,
            actor=actor,
            agent_id=agent.pk if agent else None,
            request_id=request_id,
            payload=payload,
            created_at=created_at,
        )
        return AuditEvent(
            chain=chain,
            seq=seq,
            prev_hash=head_hash,
            hash=digest,
            kind=kind,
            actor=actor,
            agent=agent,
            request_id=request_id,
            payload=payload,
            created_at=created_at,
        )

    if cached is not None:
        # The head this process wrote or read last: right unless another process (or a
        # rolled-back transaction) moved it since, which the guarded statement detects; it
        # then returns the head as it is, and the second try cannot miss (the agent's lock
        # orders every append to its chain).
        claim_chain_head(chain)
        event = build(*cached)
        appended, found = _append_guarded(event, cached, riders)
        for rider in riders:  # written by that statement whether or not the event was
            rider_written(rider)
        if appended:
            return event
        if found is not None:
            event = build(*found)
            if not _append_guarded(event, found)[0]:
                raise RuntimeError(f"audit chain {chain} moved while its agent was locked")
            return event
    head = _locked_head(chain)
    event = build(*head)
    if one_statement:
        if not _append_guarded(event, head)[0]:  # cannot happen: the head row is locked
            raise RuntimeError(f"audit chain {chain} moved while its head was locked")
        return event
    insert(event)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {_HEAD_TABLE} SET seq = %s, hash = %s WHERE chain = %s", [event.seq, event.hash, chain])
    return event


# Per agent chain, the head this process last appended or read: (seq, hash). Only a hint;
# the append statement checks it against the row.
_heads: dict[str, tuple[int, str]] = {}


def head_subquery(agent: Agent) -> tuple[str, list] | None:
    """The agent chain's head as one scalar value ("<seq> <hash>", NULL before the chain's
    first event), for the agent lock's statement to read (governance/locks.py, `also`); pass
    the value to head_seen(). None where the one-statement append does not apply (SQLite)."""
    if connection.vendor != "postgresql":
        return None
    return _HEAD_TEXT, [chain_for(agent)]


def head_seen(agent: Agent, value: str | None) -> None:
    """Take the head head_subquery() read as the hint for the agent's next append, unless this
    process wrote a later one. With several processes the head each remembers is often one
    behind (another process appended last), which costs the guarded append a second
    statement; read with the agent's lock, it is right unless that statement waited for the
    lock while another process appended (its snapshot predates the wait). Either way the
    append statement checks it."""
    head = _head_from_text(value)
    if head is None:
        return
    chain = chain_for(agent)
    remembered = _heads.get(chain)
    if remembered is None or remembered[0] <= head[0]:
        _heads[chain] = head


# A chain's head (chain = the parameter) as one text value, "<seq> <hash>", NULL without a head row.
_HEAD_TEXT = f"(SELECT seq::text || ' ' || hash FROM {_HEAD_TABLE} WHERE chain = %s)"


def _head_from_text(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, _, digest = value.partition(" ")
    return int(seq), digest


_EVENT_TABLE = AuditEvent._meta.db_table


def _append_guarded(event: AuditEvent, head: tuple[int, str],
                    riders: tuple[Rider, ...] | list[Rider] = ()) -> tuple[bool, tuple[int, str] | None]:
    """Append `event` and move its chain's head in one statement (PostgreSQL), only if the
    head is still `head`. Returns (appended, the head as the statement found it: (seq, hash),
    None when the chain has no head row yet); when not appended, no event was written.
    `riders` are written by the same statement in either case: one round trip for, e.g., a
    decision's request row and its event.

    An agent's chain is appended to only while that agent's row is locked (rank 1), so the
    head found here is the head until the transaction ends. The UPDATE locks the head row
    (rank 4, recorded by the caller).
    """
    ridden = "".join(f"{rider.ctes}, " for rider in riders)
    results = [rider for rider in riders if rider.result is not None]
    columns, values = insert_parts(event)
    placeholders = select_placeholders(AuditEvent)
    # The last subquery reads the head as it was before this statement (its snapshot): the
    # one to build on when the guard failed.
    sql = (
        f"WITH {ridden}head AS (UPDATE {_HEAD_TABLE} SET seq = %s, hash = %s WHERE chain = %s AND seq = %s AND hash = %s "
        f"RETURNING 1), event AS (INSERT INTO {_EVENT_TABLE} ({columns}) SELECT {placeholders} FROM head RETURNING id) "
        f"SELECT {', '.join(['(SELECT id FROM event)', _HEAD_TEXT, *(rider.result for rider in results)])}"
    )
    params = [p for rider in riders for p in rider.params]
    with prepared_cursor() as cursor:
        cursor.execute(sql, [*params, event.seq, event.hash, event.chain, head[0], head[1], *values, event.chain])
        appended, found, *answers = cursor.fetchone()
    for rider, value in zip(results, answers, strict=True):
        rider.value = value
    if appended is None:
        _heads.pop(event.chain, None)
        return False, _head_from_text(found)
    inserted(event, appended)
    _heads[event.chain] = (event.seq, event.hash)
    return True, None


def _stored_hash(event: AuditEvent) -> str:
    return event_hash(
        chain=event.chain,
        seq=event.seq,
        prev_hash=event.prev_hash,
        kind=event.kind,
        actor=event.actor,
        agent_id=event.agent_id,
        request_id=str(event.request_id) if event.request_id else None,
        payload=event.payload,
        created_at=event.created_at,
    )


def _chain_breaks(chain: str, pins: dict | None = None) -> Iterator[ChainBreak]:
    """The first break of one chain. `pins` are its checkpoints: {seq: [(hash, label)]}."""
    pins = pins or {}
    expected_prev, expected_seq = GENESIS, 1
    events = AuditEvent.objects.filter(chain=chain).order_by("seq").iterator(chunk_size=2000)
    for event in events:
        if event.seq != expected_seq:
            yield ChainBreak(chain, event.id, event.seq, f"sequence gap: expected seq {expected_seq}")
            return
        if event.prev_hash != expected_prev:
            yield ChainBreak(chain, event.id, event.seq, "prev_hash does not match the previous event")
            return
        if not hmac.compare_digest(_stored_hash(event), event.hash):
            yield ChainBreak(
                chain, event.id, event.seq,
                "content does not match its hash (edited, or rehashed without AUDIT_KEY)",
            )
            return
        for pinned, label in pins.get(event.seq, ()):
            if pinned != event.hash:
                yield ChainBreak(chain, event.id, event.seq, f"differs from the {label} (chain rewritten)")
                return
        expected_prev, expected_seq = event.hash, event.seq + 1
    last_seq = expected_seq - 1
    beyond = [(seq, label) for seq, entries in pins.items() if seq > last_seq for _, label in entries]
    if beyond:
        seq, label = max(beyond)
        yield ChainBreak(
            chain, None, seq, f"events missing at the end of the chain (truncated): the {label} has seq {seq}, "
            f"the chain ends at seq {last_seq}",
        )
        return
    head = AuditChainHead.objects.filter(chain=chain).first()
    if head and (head.seq != last_seq or head.hash != expected_prev):
        yield ChainBreak(chain, None, head.seq, "events missing at the end of the chain (truncated)")


def audit_verify(*, chains: list[str] | None = None, checkpoint_dir: str | None = None) -> ChainBreak | None:
    """The first break (by event id) in the given chains, or in every chain when none are
    given; None when they are intact. Chain heads checkpointed outside the database
    (AUDIT_CHECKPOINT_DIR, or `checkpoint_dir`) must still be there, unchanged."""
    from governance.audit_checkpoints import read_checkpoints

    checkpoints = read_checkpoints(checkpoint_dir)
    if chains is None:
        chains = set(AuditChainHead.objects.values_list("chain", flat=True))
        chains |= set(AuditEvent.objects.values_list("chain", flat=True).distinct())
        chains |= set(checkpoints.pins)
    breaks = [b for chain in sorted(chains) for b in _chain_breaks(chain, checkpoints.pins.get(chain))]
    if checkpoints.problem is not None:
        breaks.append(checkpoints.problem)
    if not breaks:
        return None
    return min(breaks, key=lambda b: (b.event_id is None, b.event_id or 0))
