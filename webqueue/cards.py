"""Loading queue cards for one person: the selectors' rows, turned into presenters.Card.

The page, the POST responses and the websocket pushes all go through here, so a card looks
the same however it reached the browser, and nobody is shown a card they may not see.
"""

from datetime import datetime
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone

from approvals.inbox import InboxFilter, inbox_choices, inbox_pending, inbox_with_progress
from approvals.models import Escalation, Vote
from approvals.selectors import (
    pending_escalations,
    recent_breaker_trips,
    visible_escalation,
)
from governance.models import Agent, DecisionRequest
from webqueue import impact
from webqueue.presenters import Card, card_for

# Enough to work through at 3 AM; more urgent ones arrive live. The list renders compact rows
# (a full card is ~4 KB of HTML with its history, and rendering dominated the page's cost);
# a row's full card is fetched when it is expanded.
PAGE_SIZE = 25
HISTORY_SIZE = 5
# What a history row shows; params for the amount.
HISTORY_FIELDS = ("id", "agent", "action", "resource", "params", "status", "created_at", "expires_at")
VOTES = Prefetch("votes", queryset=Vote.objects.select_related("user").order_by("created_at", "pk"))


def _histories(escalations: list[Escalation]) -> dict[int, list[DecisionRequest]]:
    """Each agent's latest requests, one spare so a card can leave itself out; other pending
    requests of the same agent stay in (that it has more waiting is part of its history).

    One statement for the whole page: a UNION ALL of one small query per agent, each walking
    the (agent, created_at) index. Per-agent ORM queries cost ~3 ms each in query building
    alone, which a page of cards from 20 agents cannot afford (SPEC §10: first page ≤ 150 ms).
    """
    agent_ids = sorted({e.request.agent_id for e in escalations})
    if not agent_ids:
        return {}
    meta, quote = DecisionRequest._meta, connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in HISTORY_FIELDS)
    one = (
        f"SELECT * FROM (SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote('agent_id')} = %s"
        f" ORDER BY {quote('created_at')} DESC LIMIT {HISTORY_SIZE + 1}) AS h{{n}}"
    )
    sql = " UNION ALL ".join(one.format(n=n) for n in range(len(agent_ids)))
    histories: dict[int, list[DecisionRequest]] = {agent_id: [] for agent_id in agent_ids}
    for row in DecisionRequest.objects.raw(sql, agent_ids):
        histories[row.agent_id].append(row)
    for rows in histories.values():
        rows.sort(key=lambda r: r.created_at, reverse=True)
    return histories


def _cards(user, escalations: list[Escalation], now: datetime, *, compact: bool = False) -> list[Card]:
    """compact: rows for the list, without the agents' histories (a row's details, history
    included, load with its full card when it is expanded)."""
    histories = {} if compact else _histories(escalations)
    return [
        impact.annotate(
            card_for(
                e,
                user=user,
                history=[r for r in histories.get(e.request.agent_id, ()) if r.pk != e.pk][:HISTORY_SIZE],
                now=now,
            ),
            e.request,
        )
        for e in escalations
    ]


def pending_cards(user, *, limit: int = PAGE_SIZE, now: datetime | None = None) -> list[Card]:
    """The person's pending escalations, most urgent (earliest deadline) first."""
    now = now or timezone.now()
    escalations = list(pending_escalations(user, limit=limit, now=now).prefetch_related(VOTES))
    return _cards(user, escalations, now)


def inbox_page(user, query, *, now: datetime | None = None) -> dict:
    """One page of the inbox for this person: filters and search from the query string, the
    true total of what matches, and the cards of the requested page."""
    now = now or timezone.now()
    f = InboxFilter.from_query(query)
    try:
        number = max(1, min(int(query.get("page", "1")), 100_000))
    except (TypeError, ValueError):
        number = 1
    queryset = inbox_pending(user, f, now=now)
    total = queryset.order_by().count()
    queryset = inbox_with_progress(queryset, user)
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(number, pages)
    start = (number - 1) * PAGE_SIZE
    escalations = list(queryset[start:start + PAGE_SIZE].prefetch_related(VOTES))
    params = {k: v for k, v in (("agent", f.agent), ("action", f.action), ("risk", f.risk), ("group", f.group),
                                ("mine", "1" if f.mine else ""), ("q", f.q)) if v}
    return {
        "cards": _cards(user, escalations, now, compact=True),
        "total": total,
        "filter": f,
        "filtered": f.active,
        "page_number": number,
        "pages": pages,
        "first_shown": start + 1 if total else 0,
        "last_shown": start + len(escalations),
        "query": urlencode(params),
        "live_inserts": not f.active and number == 1,
        "choices": inbox_choices(user),
    }


def card(user, request_id, *, now: datetime | None = None) -> Card | None:
    """One escalation in any state, if this person may see it; None otherwise."""
    escalation = visible_escalation(user, request_id)
    if escalation is None:
        return None
    prefetch_related_objects([escalation], VOTES)
    return _cards(user, [escalation], now or timezone.now())[0]


def breaker_trips() -> list[Agent]:
    """Agents in supervised mode because their circuit breaker tripped, newest first."""
    return list(recent_breaker_trips())
