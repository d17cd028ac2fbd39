"""What the engine may ask about the past. The caller answers; the engine never stores.

The Django implementation (governance.state) answers from the database inside the same
transaction as the decision; MemoryState answers from a list, for tests, chaos runs and
benchmarks. Both follow the same rules:

- "live" requests (allowed, approved, still pending) count toward velocity, cumulative and
  sequences; denied, rejected and expired ones never happened.
- only requests that went ahead (allowed, approved) make a value familiar: asking again for
  something novel is not enough to stop it being novel.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from governance.policy.globs import glob_match

LIVE = ("allowed", "approved", "pending")
DONE = ("allowed", "approved")


class StateView(Protocol):
    def count(self, *, action: str, window: int, now: datetime, limit: int | None = None) -> int:
        """Live requests by this agent whose action matches the glob `action` (the
        capability's pattern) in the last `window` seconds; may stop counting at `limit`."""

    def total(self, *, action: str, param: str, window: int, now: datetime,
              currencies: tuple[str, ...] | None = None) -> float:
        """Sum of the positive numeric params[param] over the same requests as count(); with
        `currencies`, only over the requests whose currency_group() is one of them."""

    def seen(self, *, field: str, value: Any) -> bool:
        """Has this agent gone ahead with this value before ('resource' or 'params.<name>')?"""

    def recent_actions(self, *, key: str, value: str, within: int, now: datetime) -> list[tuple[str, datetime]]:
        """(action, time) of live requests by any agent whose `key` ('resource' or
        'context.<name>') equals value, oldest first."""

    def pending(self, *, now: datetime, limit: int | None = None) -> int:
        """This agent's escalations still pending (deadline not yet passed) at `now`; may stop
        counting at `limit`. Asked only for envelopes with max_pending."""

    # Optional: prefetch(questions: list[tuple[str, dict]]) -> None, each question a method
    # name and the keyword arguments it will be asked with. The engine announces what it will
    # ask so a view can answer everything in one round trip; the answers must not change.


# Larger stored numbers count as this much (JSON integers have no size limit; floats do).
NUMBER_CAP = 10**300


def positive_number(value: Any) -> float:
    """What a stored param contributes to a cumulative total: numbers only, in [0, 1e300]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(max(min(value, NUMBER_CAP), 0))


# A currency as budgets compare it: ISO-4217-like, three uppercase letters.
CURRENCY = re.compile(r"[A-Z]{3}")
NO_CURRENCY = ""  # params.currency absent or null
ODD_CURRENCY = "?"  # present but not three uppercase letters: never compared with anything


def currency_group(params: Any) -> str:
    """Which per-currency total a request belongs to: its params.currency when that is three
    uppercase letters, NO_CURRENCY without one, ODD_CURRENCY for anything else. The trigger
    of governance migration 0010 computes the same (tally param keys `<param>@<group>`)."""
    value = params.get("currency") if isinstance(params, dict) else None
    if value is None:
        return NO_CURRENCY
    if isinstance(value, str) and CURRENCY.fullmatch(value):
        return value
    return ODD_CURRENCY


class EmptyState:
    """No history at all: every value is novel, every count zero."""

    def count(self, *, action, window, now, limit=None):
        return 0

    def total(self, *, action, param, window, now, currencies=None):
        return 0.0

    def seen(self, *, field, value):
        return False

    def recent_actions(self, *, key, value, within, now):
        return []

    def pending(self, *, now, limit=None):
        return 0


@dataclass
class Recorded:
    agent: str
    action: str
    resource: str
    params: dict
    context: dict
    at: datetime
    status: str = "allowed"
    expires_at: datetime | None = None


@dataclass
class MemoryState:
    """History held in a list. `agent` is whose point of view count/total/seen take."""

    agent: str
    history: list[Recorded] = field(default_factory=list)

    def for_agent(self, agent: str) -> "MemoryState":
        return MemoryState(agent=agent, history=self.history)

    def _live(self, now: datetime, window: int):
        start = now - timedelta(seconds=window)
        return [r for r in self.history if start < r.at <= now and r.status in LIVE]

    def _mine(self, action: str, now: datetime, window: int):
        return [r for r in self._live(now, window) if r.agent == self.agent and glob_match(r.action, action)]

    def count(self, *, action, window, now, limit=None):
        n = len(self._mine(action, now, window))
        return n if limit is None else min(n, limit)

    def total(self, *, action, param, window, now, currencies=None):
        return sum(
            positive_number(r.params.get(param)) for r in self._mine(action, now, window)
            if currencies is None or currency_group(r.params) in currencies
        )

    def seen(self, *, field, value):
        for r in self.history:
            if r.agent != self.agent or r.status not in DONE:
                continue
            if field == "resource" and r.resource == value:
                return True
            if field.startswith("params.") and field[7:] in r.params and r.params[field[7:]] == value:
                return True
        return False

    def pending(self, *, now, limit=None):
        n = sum(
            1 for r in self.history
            if r.agent == self.agent and r.status == "pending" and (r.expires_at is None or r.expires_at > now)
        )
        return n if limit is None else min(n, limit)

    def recent_actions(self, *, key, value, within, now):
        out = []
        for r in self._live(now, within):
            got = r.resource if key == "resource" else r.context.get(key.removeprefix("context."))
            if got == value:
                out.append((r.action, r.at))
        return sorted(out, key=lambda item: item[1])
