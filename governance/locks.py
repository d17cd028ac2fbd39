"""The lock order: every transaction that locks an agent, a sequence key, an escalation or an
audit chain head takes them in this order, and only through the functions below.

    1. AGENT       the agent's row            SELECT ... FOR NO KEY UPDATE (lock_agent)
                   (several agents: ascending primary key)
    2. SEQUENCE    sequence keys              transaction-scoped advisory locks, ascending
                   (lock_sequence_keys)       key: exclusive to read a chain, shared to add a step
    3. ESCALATION  the escalation row         SELECT ... FOR UPDATE (lock_escalation)
    4. CHAIN_HEAD  audit chain heads          SELECT ... FOR UPDATE (lock_chain_head),
                   (several chains: ascending name)

Rows an agent owns (its requests, their escalations' votes, anomalies, tokens, envelopes)
are written only while that agent's row is locked, so they need no rank of their own.
audit_record on an agent's chain takes (or finds) that agent's lock first: an audit insert
needs a KEY SHARE lock on the agent row (the foreign key), and taking the agent after a chain
head is exactly the cycle that deadlocked decide against vote/expiry/verify (issue 9).
The agent row is locked FOR NO KEY UPDATE, which does not conflict with KEY SHARE, so a
foreign-key check of another transaction never waits on it.

Enforced, not just written down: each transaction keeps a record of the locks it took; asking
for a lock of a lower rank than one already held (or a lower key of the same rank) raises
LockOrderError before any SQL runs. A deadlock is a bug in this order, never retried.

SQLite has no row locks: the write transaction (BEGIN IMMEDIATE) serialises every writer, so
the functions only keep the record there (the order is still checked in the SQLite pass).
"""

import hashlib
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from governance.rows import agent_columns, agent_from_row
from shared.db import prepared_cursor

AGENT, SEQUENCE, ESCALATION, CHAIN_HEAD = 1, 2, 3, 4
RANK_NAMES = {AGENT: "agent", SEQUENCE: "sequence key", ESCALATION: "escalation", CHAIN_HEAD: "audit chain head"}


class LockOrderError(RuntimeError):
    """A lock was requested out of the documented order: a code bug that could deadlock."""


class _Record:
    """The locks one transaction holds. Also its own on_commit callback: it lives exactly as
    long as it is pending in the connection's run_on_commit (cleared on commit and rollback)."""

    __slots__ = ("scope", "rank", "last", "held")

    def __init__(self, scope):
        self.scope, self.rank, self.last, self.held = scope, 0, None, set()

    def __call__(self) -> None:
        pass


def _scope(db):
    """The transaction the record belongs to: the outermost atomic block that is not a test
    case's wrapper (identified by its savepoint), or None outside any such block."""
    blocks = db.atomic_blocks
    for i, block in enumerate(blocks):
        if not getattr(block, "_from_testcase", False):
            return ("savepoint", db.savepoint_ids[i - 1]) if i else ("transaction",)
    return None


def _record() -> _Record:
    db = connections[DEFAULT_DB_ALIAS]  # the thread's wrapper, looked up once (not the proxy per attribute)
    if not db.in_atomic_block:
        raise RuntimeError("locks are taken inside a transaction (transaction.atomic)")
    scope = _scope(db)
    record = getattr(db, "_airlock_locks", None)
    if scope is not None and record is not None and record.scope == scope and any(
        entry[1] is record for entry in db.run_on_commit
    ):
        return record
    record = _Record(scope)
    if scope is not None:  # a test calling a helper directly: check that call only
        transaction.on_commit(record)
        db._airlock_locks = record
    return record


def _take(rank: int, key) -> bool:
    """Record the lock (rank, key); False when this transaction already holds it. Raises
    LockOrderError when it would be taken out of order."""
    record = _record()
    if (rank, key) in record.held:
        return False
    if rank < record.rank or (rank == record.rank and key < record.last):
        held = ", ".join(f"{RANK_NAMES[r]} {k}" for r, k in sorted(record.held, key=lambda h: (h[0], str(h[1]))))
        raise LockOrderError(
            f"lock order violated: {RANK_NAMES[rank]} {key} requested while holding {held} "
            "(order: agent -> sequence keys -> escalation -> audit chain head; see governance/locks.py)"
        )
    record.rank, record.last = rank, key
    record.held.add((rank, key))
    return True


def holds_agent(pk: int) -> bool:
    record = _record()
    return (AGENT, pk) in record.held


def lock_agent(pk: int, *, also: tuple[tuple[str, list], ...] = ()):
    """The agent's row, re-read and locked until the transaction ends, with its active
    envelope's created_at (half of the compiled-envelope cache key). Plain SQL: the ORM
    spent more CPU building this statement than anything else in a decision.

    `also`: (scalar subquery, its parameters) pairs read by the same statement, their values
    put on the agent as the tuple `also` (decide reads the facts in force and its audit
    chain's head this way: round trips fewer). The subqueries run with the statement's
    snapshot, taken before any wait for the lock: what they read must not need the lock's
    ordering to be right, or be checked later (PostgreSQL only)."""
    from governance.models import Agent

    _take(AGENT, pk)
    with prepared_cursor() as cursor:
        cursor.execute(_lock_agent_sql(tuple(sql for sql, _ in also)), [*(p for _, params in also for p in params), pk])
        row = cursor.fetchone()
    if row is None:
        raise Agent.DoesNotExist(f"agent {pk} no longer exists")
    width = len(Agent._meta.concrete_fields)
    agent = agent_from_row(row)
    created_at = row[width]
    convert = getattr(connection.ops, "convert_datetimefield_value", None)
    agent.envelope_created_at = convert(created_at, None, connection) if convert is not None else created_at
    agent.also = tuple(row[width + 1:])
    return agent


@cache
def _lock_agent_sql(also: tuple[str, ...] = ()) -> str:
    from governance.models import Agent, Envelope

    q = connection.ops.quote_name
    if connection.features.has_select_for_no_key_update:
        lock = " FOR NO KEY UPDATE OF a"
    elif connection.features.has_select_for_update_of:
        lock = " FOR UPDATE OF a"
    else:
        lock = ""
    return (
        f"SELECT {', '.join([agent_columns('a'), 'e.created_at', *also])} FROM {q(Agent._meta.db_table)} a "
        f"LEFT JOIN {q(Envelope._meta.db_table)} e ON e.id = a.active_envelope_id WHERE a.id = %s{lock}"
    )


def require_agent(pk: int) -> None:
    """Before writing on the agent's behalf (its audit chain): take its lock unless held."""
    if not holds_agent(pk):
        lock_agent(pk)


def sequence_lock_key(key: str, value: str) -> int:
    """A stable signed 64-bit advisory-lock key for one sequence key value."""
    digest = hashlib.sha256(f"airlock.sequence\0{key}\0{value}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_sequence_keys(keys: dict[int, bool]) -> None:
    """Advisory locks on sequence keys ({lock key: exclusive}), in ascending key order. A
    request that may complete a chain takes the key exclusively before reading the chain; a
    request that is a step takes it shared until it commits. So a completing request waits
    for every step in flight and then reads them; steps never wait on each other."""
    if not keys:
        return
    ordered = sorted(keys)
    for key in ordered:
        _take(SEQUENCE, key)
    if connection.vendor != "postgresql":
        return
    calls = ", ".join(
        "pg_advisory_xact_lock(%s)" if keys[key] else "pg_advisory_xact_lock_shared(%s)" for key in ordered
    )
    with prepared_cursor() as cursor:
        # One statement; its target list is evaluated left to right, i.e. in key order.
        cursor.execute(f"SELECT {calls}", ordered)


# Escalations belong to approvals, which registers their manager here at start-up
# (ApprovalsConfig.ready): governance never imports approvals.
_escalations = None


def escalation_rows_register(manager) -> None:
    global _escalations
    _escalations = manager


def lock_escalation(request_id):
    """The escalation row, locked until the transaction ends. The caller holds the agent."""
    if _escalations is None:
        raise RuntimeError("no escalation rows to lock: approvals is not loaded")
    _take(ESCALATION, str(request_id))
    return _escalations.select_for_update().get(pk=request_id)


def lock_chain_head(chain: str) -> tuple[int, str] | None:
    """(seq, hash) of the chain's head row, locked until the transaction ends; None when the
    chain has no head row yet."""
    from governance.models import AuditChainHead

    _take(CHAIN_HEAD, chain)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with prepared_cursor() as cursor:
        cursor.execute(f"SELECT seq, hash FROM {AuditChainHead._meta.db_table} WHERE chain = %s{lock}", [chain])
        return cursor.fetchone()


def claim_chain_head(chain: str) -> None:
    """Record the chain head's lock (rank 4) for a statement that takes it itself: the
    one-statement audit append locks the head row by updating it (governance/audit.py)."""
    _take(CHAIN_HEAD, chain)


def sequence_keys(envelope, action: str, resource: str, context: dict) -> dict[int, bool]:
    """The sequence locks a decision needs: for each sequence of its envelope that the action
    is a step of, the key value's lock, exclusive when the action may complete the chain."""
    from fnmatch import fnmatchcase

    from governance.state import SESSION_LENGTH

    keys: dict[int, bool] = {}
    for sequence in getattr(envelope, "sequences", ()) or ():
        completes = fnmatchcase(action, sequence.match[-1])
        if not completes and not any(fnmatchcase(action, step) for step in sequence.match[:-1]):
            continue
        if sequence.key == "resource":
            value = resource
        else:
            value = context.get(sequence.key.removeprefix("context."))
            value = value if isinstance(value, str) else ""
            if sequence.key == "context.session":
                value = value[:SESSION_LENGTH]
        if not value:
            continue
        lock = sequence_lock_key(sequence.key, value)
        keys[lock] = keys.get(lock, False) or completes
    return keys
