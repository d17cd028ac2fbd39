"""A realistic month of history for the benchmark agent, and a dict-backed StateView over it.

IndexedState answers the engine's questions (count, total, seen, recent_actions) with the
same semantics as governance.state.DatabaseState — live = allowed/approved/pending for
windows, done = allowed/approved for novelty — from indexes built once, so the benchmark
measures the engine and not a linear scan. (MemoryState scans its whole list per call:
fine for tests, not what production does; production asks PostgreSQL, which the HTTP
benchmark measures.)
"""

import random
from bisect import bisect_right
from collections import defaultdict
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from governance.policy.state import Recorded, currency_group, positive_number

LIVE = ("allowed", "approved", "pending")
DONE = ("allowed", "approved")


class IndexedState:
    """StateView from per-action and per-key indexes (agent's point of view for count/total/seen)."""

    def __init__(self, agent: str, history: list[Recorded]):
        self.agent = agent
        mine = sorted((r for r in history if r.agent == agent), key=lambda r: r.at)
        self._times: dict[str, list[datetime]] = defaultdict(list)
        self._params: dict[str, list[dict]] = defaultdict(list)
        self._seen: dict[str, set] = defaultdict(set)
        self._by_pattern: dict[str, tuple[list[datetime], list[dict]]] = {}
        for r in mine:
            if r.status in LIVE:
                self._times[r.action].append(r.at)
                self._params[r.action].append(r.params)
            if r.status in DONE:
                self._seen["resource"].add(r.resource)
                for key, value in r.params.items():
                    if isinstance(value, (str, int, float, bool)):
                        self._seen[f"params.{key}"].add(value)
        self._chains: dict[tuple[str, str], list[tuple[str, datetime]]] = defaultdict(list)
        for r in sorted(history, key=lambda r: r.at):
            if r.status not in LIVE:
                continue
            self._chains[("resource", r.resource)].append((r.action, r.at))
            session = r.context.get("session")
            if isinstance(session, str):
                self._chains[("context.session", session)].append((r.action, r.at))

    def _matching(self, pattern: str) -> tuple[list[datetime], list[dict]]:
        """Live rows of every action the capability's glob matches, in time order (cached)."""
        if pattern not in self._by_pattern:
            rows = sorted(
                (at, params)
                for action in self._times
                if fnmatchcase(action, pattern)
                for at, params in zip(self._times[action], self._params[action], strict=True)
            ) if any(c in pattern for c in "*?[") else list(zip(self._times.get(pattern, []), self._params.get(pattern, []), strict=True))
            self._by_pattern[pattern] = ([at for at, _p in rows], [p for _at, p in rows])
        return self._by_pattern[pattern]

    def _span(self, action: str, window: int, now: datetime) -> tuple[int, int]:
        times = self._matching(action)[0]
        return bisect_right(times, now - timedelta(seconds=window)), bisect_right(times, now)

    def count(self, *, action, window, now, limit=None):
        lo, hi = self._span(action, window, now)
        return hi - lo if limit is None else min(hi - lo, limit)

    def total(self, *, action, param, window, now, currencies=None):
        lo, hi = self._span(action, window, now)
        return sum(
            positive_number(params.get(param)) for params in self._matching(action)[1][lo:hi]
            if currencies is None or currency_group(params) in currencies
        )

    def seen(self, *, field, value):
        try:
            return value in self._seen.get(field, ())
        except TypeError:  # unhashable (a list or an object): compare by value
            return False

    def recent_actions(self, *, key, value, within, now):
        start = now - timedelta(seconds=within)
        return [(a, at) for a, at in self._chains.get((key, value), ()) if start < at <= now]


# Values the agent has used before (allowed, more than a day ago).
FAMILIAR = [
    ("purchase_order.create", "vendor:staples", {"amount": 400, "currency": "USD"}),
    ("purchase_order.create", "vendor:acme-office", {"amount": 900, "currency": "USD"}),
    ("purchase_order.create", "vendor:globex", {"amount": 1200, "currency": "EUR"}),
    ("purchase_order.create", "vendor:initech", {"amount": 700, "currency": "GBP"}),
    ("purchase_order.cancel", "vendor:globex", {"amount": 300}),
    ("invoice.pay", "vendor:globex", {"amount": 2500}),
    ("refund.issue", "customer:c-1001", {"amount": 40}),
    ("crm.contact.read", "contact:c-42", {}),
    ("crm.account.update", "account:a-7", {"field": "phone"}),
    ("email.send", "mailbox:ops", {"to": "alice@corp.example", "recipients": 1}),
    ("email.send", "mailbox:ops", {"to": "bob@corp.example", "recipients": 3}),
    ("file.read", "s3://reports/q3.csv", {}),
    ("file.read", "s3://shared/handbook.pdf", {}),
    ("file.write", "s3://reports/q3.csv", {"size_bytes": 20000}),
    ("file.delete", "s3://scratch/tmp-1", {}),
    ("db.query", "db:analytics", {"sql": "SELECT count(*) FROM orders"}),
    ("db.query", "db:warehouse", {"sql": "SELECT * FROM sales LIMIT 10"}),
    ("db.migrate", "db:app", {"migration": "0042"}),
    ("service.deploy", "service:web", {"version": "1.4.2"}),
    ("security_group.update", "sg:web", {"cidr": "10.0.0.0/8"}),
    ("dns.record.create", "zone:example.com", {"type": "A"}),
    ("ticket.create", "project:ops", {"title": "disk usage"}),
    ("ticket.comment", "project:ops", {"body": "done"}),
    ("payroll.read", "employee:e-17", {"fields": ["name"]}),
    ("calendar.read", "calendar:team", {}),
    ("catalogue.search", "catalogue:furniture", {"q": "desk"}),
]


def build_history(agent: str, now: datetime, *, background: int = 5000, seed: int = 7) -> list[Recorded]:
    """A month of traffic: `background` older events plus the last day's, which sets the
    windows (velocity, cumulative) and the sequences the request mixes probe."""
    rng = random.Random(seed)
    out: list[Recorded] = []

    def add(action, resource, params, at, status="allowed", session="", who=agent):
        out.append(Recorded(who, action, resource, dict(params), {"session": session}, at, status))

    for i in range(background):
        action, resource, params = FAMILIAR[i % len(FAMILIAR)]
        at = now - timedelta(days=1, seconds=rng.randint(60, 29 * 86400))
        status = rng.choices(["allowed", "approved", "denied", "expired"], [85, 5, 8, 2])[0]
        if i < len(FAMILIAR):
            status = "allowed"  # every familiar value really went ahead at least once
        add(action, resource, params, at, status, session=f"trace-{rng.randint(1, 900)}")
        # Other agents exist too: their traffic shows up only in sequences.
        if i % 5 == 0:
            add(action, resource, params, at, status, who="other-bot")
    for i in range(10):  # 25,000 of the 30,000/24h purchase budget used
        add("purchase_order.create", "vendor:staples", {"amount": 2500, "currency": "USD"}, now - timedelta(hours=2 + 2 * i))
    for i in range(5):  # 50,000 of the 100,000/24h invoice budget used
        add("invoice.pay", "vendor:globex", {"amount": 10000}, now - timedelta(hours=1 + 3 * i))
    for i in range(20):  # exactly the 20/h scratch-delete budget: the next one is over
        add("file.delete", f"s3://scratch/tmp-{i}", {}, now - timedelta(minutes=2 + 2 * i))
    for i in range(40):
        add("ticket.create", "project:ops", {"title": f"t{i}"}, now - timedelta(minutes=1 + i))
    for i in range(200):
        add("crm.contact.read", "contact:c-42", {}, now - timedelta(seconds=10 + 15 * i))
    for i in range(10):
        add("refund.issue", "customer:c-1001", {"amount": 40}, now - timedelta(minutes=3 + 5 * i))
    # Two thirds of the exposure chain in one session: a DNS record would complete it.
    add("security_group.update", "sg:web", {"cidr": "10.0.0.0/8"}, now - timedelta(minutes=20), session="trace-chain")
    add("service.deploy", "service:web", {"version": "1.5.0"}, now - timedelta(minutes=10), session="trace-chain")
    return out
