"""Replay: re-evaluate an agent's recorded requests against a candidate envelope.

Shared by the envelope editor's preview (adminui/replay.py) and `manage.py replay`, the CI
gate (governance/management/commands/replay.py).

Nothing is written. Each recorded request is evaluated by the pure engine
(governance.policy.evaluate) at the time it was made, against a state view holding the
history up to that moment, so velocity, cumulative limits, novelty and sequences see the
past as it was. The preview then says which answers would change (allow → escalate, ...).

ReplayState answers the StateView questions the way governance.state.DatabaseState did at
that moment, not the way the table reads today: a request that was pending then and was
rejected or expired later still counted then; an approval makes a value familiar only once
it was approved. policy.MemoryState cannot say that (it only knows a final status, and
scans its whole list on every question), which is why the replay has its own view.
"""

from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from governance.canonical import canonical_json
from governance.models import Agent, DecisionRequest
from governance.policy import CompiledEnvelope, PolicyRequest, evaluate
from governance.policy.globs import glob_match
from governance.policy.state import DONE, currency_group, positive_number

# Replaying more than this many requests in a web request would take too long; the preview
# then covers the most recent ones and says so.
MAX_REPLAYED = 20_000
# How many changed requests the preview lists one by one (all are counted).
MAX_LISTED = 200
ANSWERS = ("allow", "escalate", "deny")
FOREVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Past:
    """One recorded request, with when it stopped counting and when it became familiar."""

    agent: str
    action: str
    resource: str
    params: dict
    context: dict
    at: datetime
    live_until: datetime | None  # None: it counts for ever (allowed, approved, pending)
    done_from: datetime | None  # None: it never went ahead

    def live_at(self, now: datetime) -> bool:
        return self.live_until is None or self.live_until > now


def past_from_row(row: DecisionRequest, agent_name: str, now: datetime) -> Past:
    status, at = row.status, row.created_at
    resolved = row.decided_at or row.expires_at or at
    live_until = None
    if status == "denied":
        live_until = at
    elif status in ("rejected", "expired"):
        live_until = resolved
    elif status == "pending" and row.expires_at and row.expires_at <= now:
        live_until = row.expires_at  # expired, whether or not the sweep has run yet
    done_from = at if status == "allowed" else (row.decided_at or at) if status == "approved" else None
    return Past(agent_name, row.action, row.resource, row.params, row.context, at, live_until, done_from)


def _key(value: Any) -> str:
    return canonical_json(value)


class ReplayState:
    """A StateView over recorded history, as it stood at `self.now`. Add records in time order."""

    def __init__(self, agent: str):
        self.agent = agent
        self.now: datetime = FOREVER
        self._by_action: dict[str, list[Past]] = defaultdict(list)
        self._times: dict[str, list[datetime]] = defaultdict(list)
        # field ("resource" or "params.x") -> canonical value -> earliest time it went ahead
        self._familiar: dict[str, dict[str, datetime]] = defaultdict(dict)
        # (key, value) -> records of any agent, for sequences
        self._by_key: dict[tuple[str, str], list[Past]] = defaultdict(list)
        self.sequence_keys: tuple[str, ...] = ()

    def add(self, past: Past) -> None:
        if past.agent == self.agent:
            self._by_action[past.action].append(past)
            self._times[past.action].append(past.at)
            if past.done_from is not None:
                self._familiar_at("resource", past.resource, past.done_from)
                for name, value in past.params.items():
                    self._familiar_at(f"params.{name}", value, past.done_from)
        for key in self.sequence_keys:
            value = past.resource if key == "resource" else past.context.get(key.removeprefix("context."))
            if isinstance(value, str) and value:
                self._by_key[(key, value)].append(past)

    def add_familiar(self, field: str, value: Any) -> None:
        """A value used before the loaded history starts: familiar from the beginning."""
        self._familiar_at(field, value, FOREVER)

    def _familiar_at(self, field: str, value: Any, when: datetime) -> None:
        values = self._familiar[field]
        key = _key(value)
        if key not in values or when < values[key]:
            values[key] = when

    def _window(self, pattern: str, window: int, now: datetime) -> list[Past]:
        """Live requests of this agent whose action matches the capability's glob."""
        start = now - timedelta(seconds=window)
        out: list[Past] = []
        for action, times in self._times.items():
            if not glob_match(action, pattern):
                continue
            lo, hi = bisect_right(times, start), bisect_right(times, now)
            out += [p for p in self._by_action[action][lo:hi] if p.live_at(now)]
        return out

    def count(self, *, action, window, now, limit=None):
        n = len(self._window(action, window, now))
        return n if limit is None else min(n, limit)

    def total(self, *, action, param, window, now, currencies=None):
        return sum(
            positive_number(p.params.get(param)) for p in self._window(action, window, now)
            if currencies is None or currency_group(p.params) in currencies
        )

    def seen(self, *, field, value):
        when = self._familiar.get(field, {}).get(_key(value))
        return when is not None and when <= self.now

    def recent_actions(self, *, key, value, within, now):
        rows = self._by_key.get((key, value), [])
        start = now - timedelta(seconds=within)
        lo = bisect_right([p.at for p in rows], start)  # lists are short: one resource or session
        out = [(p.action, p.at) for p in rows[lo:] if p.at <= now and p.live_at(now)]
        return sorted(out, key=lambda item: item[1])


@dataclass(frozen=True)
class ReplayChange:
    request_id: str
    at: datetime
    action: str
    resource: str
    envelope_version: int | None
    before: str
    after: str
    reasons: list[dict]


@dataclass
class ReplayResult:
    days: int | None
    since: datetime
    replayed: int = 0
    truncated: bool = False
    # (recorded decision, draft decision) -> how many
    matrix: Counter = field(default_factory=Counter)
    changes: list[ReplayChange] = field(default_factory=list)
    changed: int = 0

    @property
    def transitions(self) -> list[tuple[str, str, int]]:
        """The changed cells of the matrix, most frequent first."""
        cells = [(b, a, n) for (b, a), n in self.matrix.items() if b != a]
        return sorted(cells, key=lambda c: (-c[2], c[0], c[1]))

    @property
    def grid(self) -> list[tuple[str, list[tuple[str, int]]]]:
        """Recorded answer (rows) by draft answer (columns), for the preview's table."""
        return [(b, [(a, self.matrix.get((b, a), 0)) for a in ANSWERS]) for b in ANSWERS]

    @property
    def unchanged(self) -> int:
        return self.replayed - self.changed


def _lookback(compiled: CompiledEnvelope) -> int:
    windows = [0]
    for cap in compiled.capabilities:
        if cap.velocity:
            windows.append(cap.velocity["per"])
        if cap.cumulative:
            windows.append(cap.cumulative["per"])
    windows += [s.within for s in compiled.sequences]
    return min(max(windows), 90 * 86400)


def _sequence_patterns(compiled: CompiledEnvelope) -> list[str]:
    return [pattern for s in compiled.sequences for pattern in s.match]


def _breaker_supervised(row: DecisionRequest, agent: Agent) -> bool:
    """Was the agent supervised by its breaker (not by its envelope's mode) at the time?

    A draft may drop `mode: supervised`; supervision by a tripped breaker stays regardless.
    When both applied, only the current trip is known (earlier trips were reset)."""
    if row.agent_mode != "supervised":
        return False
    recorded_mode = (row.envelope.document or {}).get("mode") if row.envelope_id else None
    if recorded_mode != "supervised":
        return True
    return agent.breaker_tripped_at is not None and row.created_at >= agent.breaker_tripped_at


def replay_preview(
    *, agent: Agent, compiled: CompiledEnvelope, days: int, now: datetime | None = None
) -> ReplayResult:
    """What the draft would have answered to the agent's requests of the last `days` days."""
    now = now or timezone.now()
    return replay_run(agent=agent, compiled=compiled, since=now - timedelta(days=days), now=now, days=days)


def replay_run(
    *, agent: Agent, compiled: CompiledEnvelope, since: datetime, now: datetime | None = None,
    limit: int | None = MAX_REPLAYED, days: int | None = None,
) -> ReplayResult:
    """What `compiled` would have answered to the agent's requests made after `since`.
    With a limit, only the most recent `limit` requests (result.truncated says so)."""
    now = now or timezone.now()
    result = ReplayResult(days=days, since=since)
    rows = DecisionRequest.objects.filter(agent=agent, created_at__gt=since, created_at__lte=now)
    newest_first = rows.select_related("envelope").order_by("-created_at", "-id")
    newest = list(newest_first[: limit + 1] if limit is not None else newest_first)
    if limit is not None and len(newest) > limit:
        result.truncated = True
        newest = newest[:limit]
    if not newest:
        return result
    replayed = list(reversed(newest))
    start = replayed[0].created_at
    load_from = start - timedelta(seconds=_lookback(compiled))

    state = ReplayState(agent.name)
    patterns = _sequence_patterns(compiled)
    state.sequence_keys = tuple(sorted({s.key for s in compiled.sequences}))
    _load_familiar(state, agent, compiled, before=load_from)
    for row in DecisionRequest.objects.filter(agent=agent, created_at__gte=load_from, created_at__lt=start).order_by(
        "created_at", "id"
    ):
        state.add(past_from_row(row, agent.name, now))
    if patterns:
        # Sequences chain actions of any agent; load the others' matching actions up front
        # (every question filters by time, so they only count once they happened).
        others = (
            DecisionRequest.objects.filter(created_at__gte=load_from, created_at__lte=now)
            .exclude(agent=agent)
            .select_related("agent")
            .order_by("created_at", "id")
        )
        for row in others.iterator(chunk_size=2000):
            if any(glob_match(row.action, p) for p in patterns):
                state.add(past_from_row(row, row.agent.name, now))

    for row in replayed:
        state.now = row.created_at
        request = PolicyRequest(
            action=row.action,
            resource=row.resource,
            params=row.params,
            context=row.context,
            agent=agent.name,
            now=row.created_at,
            agent_mode="supervised" if _breaker_supervised(row, agent) else "enforce",
            agent_suspended=bool(row.reasons) and row.reasons[0].get("code") == "agent_suspended",
        )
        decision = evaluate(compiled, request, state)
        state.add(past_from_row(row, agent.name, now))
        result.replayed += 1
        result.matrix[(row.decision, decision.decision)] += 1
        if decision.decision != row.decision:
            result.changed += 1
            if len(result.changes) < MAX_LISTED:
                result.changes.append(
                    ReplayChange(
                        request_id=str(row.id), at=row.created_at, action=row.action, resource=row.resource,
                        envelope_version=row.envelope_version, before=row.decision, after=decision.decision,
                        reasons=[r.as_dict() for r in decision.reasons],
                    )
                )
    result.changes.reverse()  # newest first, like every other list in the UI
    return result


def _load_familiar(state: ReplayState, agent: Agent, compiled: CompiledEnvelope, *, before: datetime) -> None:
    """Values the agent used before the loaded history: only their existence matters."""
    done = DecisionRequest.objects.filter(agent=agent, status__in=DONE, created_at__lt=before)
    for resource in done.values_list("resource", flat=True).distinct():
        state.add_familiar("resource", resource)
    names = {f[7:] for cap in compiled.capabilities for f in cap.escalate_on_novel if f.startswith("params.")}
    for name in sorted(names):
        for params in done.filter(params__has_key=name).values_list("params", flat=True).iterator(chunk_size=2000):
            state.add_familiar(f"params.{name}", params.get(name))
