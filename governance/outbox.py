"""The transactional outbox: how after-commit events (governance.signals, approvals.signals)
reach their receivers without running them in the request that caused them.

`outbox_send` writes ONE row (event name + JSON kwargs) in the caller's transaction: if the
row cannot be written the transaction fails, so the decision it belongs to fails closed with
it; if the transaction rolls back, the event never happened. On PostgreSQL a statement trigger
(migration 0012) sends NOTIFY, which PostgreSQL delivers at commit.

A relay delivers the rows: a thread in every Celery worker (started by airlock/celery.py on
worker_ready) that LISTENs and wakes at once on PostgreSQL, and polls on SQLite. It claims a
batch in one statement (`UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)
RETURNING`), which pushes the rows' `available_at` out by a lease: two relays never claim one
row, and a relay that dies holding rows leaves them to be claimed again when the lease ends.
Then it calls the signal's receivers one by one, as send_robust did: a row whose receivers all
ran is deleted; a failing receiver is logged, and only the failed ones are retried, with a
doubling backoff, until AIRLOCK_OUTBOX_MAX_ATTEMPTS (then the row is kept, marked given up).
Delivery is at least once (a relay killed between a receiver and the delete re-delivers on
reclaim): receivers are idempotent (enqueue a task that renders current state, push an id).

AIRLOCK_OUTBOX picks the mode: "relay" (production), "commit" (the committing process delivers
its own rows right after commit, through the same claim; tests and a web process without a
worker; the relay still picks up what a crash left),
"off" (no row: receivers run in the committing process at commit, the behaviour before the
outbox; kept for the bench's before/after).
"""

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from shared.db import prepared_cursor

logger = logging.getLogger("airlock.outbox")

TABLE = "governance_outboxevent"
CHANNEL = "airlock_outbox"
BACKOFF_CAP = 300  # seconds
STOP_SLICE = 0.5  # seconds: how soon a waiting relay hears stop()



class _Encoder(DjangoJSONEncoder):
    """Django's encoder, but datetimes keep their microseconds (an expiry's ETA is exact)."""

    def default(self, o):
        if isinstance(o, datetime):
            return o.isoformat()
        return super().default(o)


_events: dict[str, Signal] = {}
_names: dict[Signal, str] = {}


def outbox_events_register(**signals: Signal) -> None:
    """Name the signals that may go through the outbox (name=signal; the name is stored)."""
    for name, signal in signals.items():
        _events[name] = signal
        _names[signal] = name


def outbox_send(signal: Signal, **kwargs) -> None:
    """Record `signal` with `kwargs` in the current transaction; its receivers run after commit,
    in the relay. At once if there is no transaction (autocommit), as on_commit would."""
    if settings.AIRLOCK_OUTBOX == "off":
        transaction.on_commit(lambda: signal.send_robust(sender=None, **kwargs))
        return
    sql, params = outbox_insert(signal, **kwargs)
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        (row_id,) = cursor.fetchone()
    outbox_written(row_id)


def outbox_insert(signal: Signal, **kwargs) -> tuple[str, list]:
    """The INSERT of one event (`... RETURNING id`), for a caller that folds it into a statement
    of its own (approvals.services.escalation_open); it then calls outbox_written(id)."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    return (
        f"INSERT INTO {TABLE} (event, payload, created_at, available_at, attempts, pending, last_error)"
        " VALUES (%s, %s, %s, %s, 0, '', '') RETURNING id",
        [_names[signal], json.dumps(kwargs, cls=_Encoder), now, now],
    )


def outbox_written(row_id: int) -> None:
    """In commit mode this process delivers its own row after commit (not the others': their
    writers do, or the relay), as the receivers ran before the outbox; the claim still guards it."""
    if settings.AIRLOCK_OUTBOX == "commit":
        transaction.on_commit(lambda: outbox_drain(ids=[row_id]), robust=True)


@dataclass(frozen=True)
class Claimed:
    id: int
    event: str
    payload: str
    attempts: int
    pending: str


def outbox_claim(limit: int = 100, now=None, ids: list[int] | None = None) -> list[Claimed]:
    """Claim up to `limit` due rows (only those of `ids` if given) for one lease: one
    statement, autocommit."""
    now = now or timezone.now()
    lease_end = now + timedelta(seconds=settings.AIRLOCK_OUTBOX_LEASE)
    adapt = connection.ops.adapt_datetimefield_value
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    only = f" AND id IN ({', '.join(['%s'] * len(ids))})" if ids else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET available_at = %s, attempts = attempts + 1 WHERE id IN"
            f" (SELECT id FROM {TABLE} WHERE gave_up_at IS NULL AND available_at <= %s{only}"
            f" ORDER BY id LIMIT %s{lock})"
            " RETURNING id, event, payload, attempts, pending",
            [adapt(lease_end), adapt(now), *(ids or []), limit],
        )
        rows = [Claimed(*row) for row in cursor.fetchall()]
    rows.sort(key=lambda row: row.id)  # RETURNING's order is not promised; deliver in commit order
    return rows


def outbox_due(now=None) -> bool:
    """Whether any row is due (a read: no lock)."""
    now = connection.ops.adapt_datetimefield_value(now or timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {TABLE} WHERE gave_up_at IS NULL AND available_at <= %s LIMIT 1", [now])
        return cursor.fetchone() is not None


def receiver_name(receiver) -> str:
    return f"{receiver.__module__}.{receiver.__qualname__}"


def outbox_backoff(attempts: int) -> int:
    """Seconds before a row whose receiver failed on attempt `attempts` is tried again."""
    return min(2 ** max(attempts - 1, 0), BACKOFF_CAP)


def outbox_deliver(row: Claimed) -> bool:
    """Run the row's (still pending) receivers; delete it when all ran, else schedule the retry
    of the failed ones, or give up after the last attempt. Returns True when done."""
    signal = _events.get(row.event)
    failed: list[str] = []
    errors: list[str] = []
    if signal is None:
        failed, errors = [row.event], [f"no signal registered as {row.event!r}"]
    else:
        kwargs = json.loads(row.payload)
        wanted = set(json.loads(row.pending)) if row.pending else None
        sync_receivers, _async = signal._live_receivers(None)
        for receiver in sync_receivers:
            name = receiver_name(receiver)
            if wanted is not None and name not in wanted:
                continue
            try:
                receiver(signal=signal, sender=None, **kwargs)
            except Exception as exc:  # one receiver's failure never stops the others or the relay
                logger.exception("outbox %s#%s: receiver %s failed (attempt %d)", row.event, row.id, name, row.attempts)
                failed.append(name)
                errors.append(f"{name}: {exc!r}")
    with connection.cursor() as cursor:
        if not failed:
            cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [row.id])
            return True
        now = timezone.now()
        adapt = connection.ops.adapt_datetimefield_value
        if row.attempts >= settings.AIRLOCK_OUTBOX_MAX_ATTEMPTS:
            logger.error("outbox %s#%s given up after %d attempt(s): %s", row.event, row.id, row.attempts, "; ".join(errors))
            cursor.execute(f"UPDATE {TABLE} SET gave_up_at = %s, pending = %s, last_error = %s WHERE id = %s",
                           [adapt(now), json.dumps(failed), "; ".join(errors)[:2000], row.id])
        else:
            retry = now + timedelta(seconds=outbox_backoff(row.attempts))
            cursor.execute(f"UPDATE {TABLE} SET available_at = %s, pending = %s, last_error = %s WHERE id = %s",
                           [adapt(retry), json.dumps(failed), "; ".join(errors)[:2000], row.id])
    return False


def outbox_drain(limit: int = 100, ids: list[int] | None = None) -> int:
    """Claim and deliver what is due (of `ids`, if given), once. Returns how many rows were
    claimed. Never raises: a database error is logged and the rows stay for the next drain
    (or their lease ends)."""
    try:
        rows = outbox_claim(limit, ids=ids)
        for row in rows:
            outbox_deliver(row)
    except Exception:
        logger.exception("outbox drain failed; the rows stay due")
        return 0
    return len(rows)


class OutboxRelay:
    """A daemon thread that drains the outbox, woken by NOTIFY (PostgreSQL) or polling."""

    def __init__(self, *, batch: int = 100, poll: float | None = None):
        self.batch = batch
        self.poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="airlock-outbox-relay", daemon=True)
        self._listener = None

    def start(self) -> "OutboxRelay":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        postgres = connection.vendor == "postgresql"
        poll = self.poll or (settings.AIRLOCK_OUTBOX_POLL if postgres else settings.AIRLOCK_OUTBOX_POLL_SQLITE)
        logger.info("outbox relay started (%s)", "LISTEN/NOTIFY" if postgres else f"polling every {poll}s")
        while not self._stop.is_set():
            try:
                if postgres and self._listener is None:
                    self._listener = _listen()  # before the drain, so no NOTIFY falls between
                # SQLite: look before claiming, so an idle poll never takes the write lock.
                claimed = outbox_drain(self.batch) if postgres or outbox_due() else 0
            except Exception:
                logger.exception("outbox relay: cannot reach the database; retrying")
                self._close()
                self._stop.wait(1.0)
                continue
            if claimed >= self.batch:
                continue  # more is due
            connection.close()  # back to the pool while idle
            self._wait(poll)
        self._close()
        connection.close()

    def _wait(self, timeout: float) -> None:
        if self._listener is None:
            self._stop.wait(timeout)
            return
        # In slices, so stop() is heard within one (a NOTIFY ends the wait at once).
        end = time.monotonic() + timeout
        try:
            while not self._stop.is_set() and (left := end - time.monotonic()) > 0:
                if list(self._listener.notifies(timeout=min(left, STOP_SLICE), stop_after=1)):
                    return
        except Exception:
            logger.exception("outbox relay: LISTEN connection lost; reconnecting")
            self._close()
            self._stop.wait(0.5)

    def _close(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            except Exception:  # already broken
                logger.debug("closing the LISTEN connection failed", exc_info=True)
            self._listener = None


def _listen():
    """A dedicated autocommit connection (not the pool's) that LISTENs on the outbox channel."""
    import psycopg

    db = connection.settings_dict
    params = {"dbname": db["NAME"], "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
              "host": db.get("HOST") or None, "port": db.get("PORT") or None,
              "connect_timeout": db.get("OPTIONS", {}).get("connect_timeout", 2)}
    conn = psycopg.connect(**{k: v for k, v in params.items() if v is not None}, autocommit=True)
    conn.execute(f"LISTEN {CHANNEL}")
    return conn


_relay: OutboxRelay | None = None


def relay_start() -> OutboxRelay | None:
    """Start this process's relay (a Celery worker calls it when ready). Off when
    AIRLOCK_OUTBOX is "off" or AIRLOCK_OUTBOX_RELAY is false."""
    global _relay
    if settings.AIRLOCK_OUTBOX == "off" or not settings.AIRLOCK_OUTBOX_RELAY:
        return None
    if _relay is None:
        _relay = OutboxRelay().start()
    return _relay


def relay_stop() -> None:
    global _relay
    if _relay is not None:
        _relay.stop()
        _relay = None
