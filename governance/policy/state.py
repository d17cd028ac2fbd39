"""What the engine may ask about the past. The caller answers; the engine never stores.

The Django implementation (governance.state) answers from the database inside the same
transaction as the decision; MemoryState answers from a list, for tests, chaos runs and
benchmarks.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol


class StateView(Protocol):
    def count(self, *, action: str, window: int, now: datetime) -> int:
        """Requests by this agent for this action in the last `window` seconds that were
        not denied (allowed, approved or still pending)."""

    def total(self, *, action: str, param: str, window: int, now: datetime) -> float:
        """Sum of params[param] over the same requests as count()."""

    def seen(self, *, field: str, value: Any) -> bool:
        """Has this agent used this value before ('resource' or 'params.<name>')?"""

    def recent_actions(self, *, key: str, value: str, within: int, now: datetime) -> list[tuple[str, datetime]]:
        """(action, time) of not-denied requests by any agent whose `key` ('resource' or
        'context.session') equals value, oldest first."""

    # Optional: prefetch(questions: list[tuple[str, dict]]) -> None, where each question is a
    # method name and its keyword arguments. The engine announces what it will ask so a view
    # can answer everything in one round trip; the answers must not change.


class EmptyState:
    """No history at all: every value is novel, every count zero."""

    def count(self, *, action, window, now):
        return 0

    def total(self, *, action, param, window, now):
        return 0.0

    def seen(self, *, field, value):
        return False

    def recent_actions(self, *, key, value, within, now):
        return []


@dataclass
class Recorded:
    agent: str
    action: str
    resource: str
    params: dict
    context: dict
    at: datetime
    status: str = "allowed"


@dataclass
class MemoryState:
    """History held in a list. `agent` is whose point of view count/total/seen take."""

    agent: str
    history: list[Recorded] = field(default_factory=list)

    def for_agent(self, agent: str) -> "MemoryState":
        return MemoryState(agent=agent, history=self.history)

    def _live(self, now: datetime, window: int):
        start = now - timedelta(seconds=window)
        return [r for r in self.history if start < r.at <= now and r.status != "denied"]

    def count(self, *, action, window, now):
        return sum(1 for r in self._live(now, window) if r.agent == self.agent and r.action == action)

    def total(self, *, action, param, window, now):
        total = 0.0
        for r in self._live(now, window):
            if r.agent == self.agent and r.action == action:
                value = r.params.get(param)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    total += value
        return total

    def seen(self, *, field, value):
        for r in self.history:
            if r.agent != self.agent:
                continue
            if field == "resource" and r.resource == value:
                return True
            if field.startswith("params.") and r.params.get(field[7:]) == value:
                return True
        return False

    def recent_actions(self, *, key, value, within, now):
        out = []
        for r in self._live(now, within):
            got = r.resource if key == "resource" else r.context.get(key.removeprefix("context."))
            if got == value:
                out.append((r.action, r.at))
        return sorted(out, key=lambda item: item[1])
