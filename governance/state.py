"""The engine's StateView answered from the database.

Runs inside the decide transaction after the agent row is locked, so counts and sums for
one agent are exact under concurrency (PostgreSQL: SELECT ... FOR UPDATE on the agent).
"""

from datetime import datetime, timedelta

from governance.models import Agent, DecisionRequest

# Requests that did happen or may still happen. Denied, rejected and expired ones did not.
LIVE = ("allowed", "approved", "pending")
# Only actions that really went ahead make a value familiar; asking again is not enough.
DONE = ("allowed", "approved")


class DatabaseState:
    def __init__(self, agent: Agent):
        self.agent = agent

    def _window(self, action: str, window: int, now: datetime):
        return DecisionRequest.objects.filter(
            agent=self.agent, action=action, created_at__gt=now - timedelta(seconds=window), status__in=LIVE
        )

    def count(self, *, action, window, now):
        return self._window(action, window, now).count()

    def total(self, *, action, param, window, now):
        total = 0.0
        for value in self._window(action, window, now).values_list(f"params__{param}", flat=True):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total += value
        return total

    def seen(self, *, field, value):
        rows = DecisionRequest.objects.filter(agent=self.agent, status__in=DONE)
        if field == "resource":
            return rows.filter(resource=value).exists()
        return rows.filter(**{f"params__{field[7:]}": value}).exists()

    def recent_actions(self, *, key, value, within, now):
        rows = DecisionRequest.objects.filter(created_at__gt=now - timedelta(seconds=within), status__in=LIVE)
        if key == "resource":
            rows = rows.filter(resource=value)
        elif key == "context.session":
            rows = rows.filter(session=value)
        else:
            rows = rows.filter(**{f"context__{key.removeprefix('context.')}": value})
        return list(rows.order_by("created_at").values_list("action", "created_at"))
