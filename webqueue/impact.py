"""Cards state the impact in words (issue 12): the reason as a sentence with its rule code
secondary, why a human is asked (never "low" when a rule escalated), and a change as
from → to when the request carries the previous value.

Convention for "from → to": the agent puts the values it is about to replace under
`params.previous`, keyed like the params themselves, e.g.
`{"price": 0.01, "currency": "USD", "previous": {"price": 19.99}}` shows "price $19.99 → $0.01".
"""

import re
from typing import Any

from webqueue.presenters import format_amount

# What the badge says first: the kind of rule that asked, in two or three words.
WHY = {
    "amount_over_limit": "Over limit",
    "escalate_when": "Rule matched",
    "cumulative_exceeded": "Over budget",
    "velocity_exceeded": "Too many",
    "novel_value": "First time",
    "outside_hours": "Off hours",
    "sequence_complete": "Completes a chain",
    "outside_envelope": "Outside envelope",
    "supervised": "Supervised",
    "risk_threshold": "High risk",
    "currency_mismatch": "Other currency",
}
_CUMULATIVE = re.compile(
    r"^(?P<param>\w+) (?P<total>[-\d.e+]+)(?: (?P<currency>[A-Z]{3}))? in (?P<per>\w+) > (?P<max>[-\d.e+]+)(?: [A-Z]{3})?$")
_PER = {"24h": "today", "1d": "today", "1h": "this hour", "7d": "this week"}
_BUDGET = {"24h": "daily budget", "1d": "daily budget", "1h": "hourly budget", "7d": "weekly budget"}


def why_label(reasons: list[dict]) -> str:
    """The badge: why this needs a human, from the first reason."""
    for reason in reasons:
        code = str(reason.get("code", ""))
        if code:
            return WHY.get(code, code.replace("_", " ").capitalize())
    return "Needs review"


def reason_sentence(reason: dict, params: dict) -> str:
    """The reason in words. A budget's total is counted in one currency (docs/inbox.md): the
    one the engine's message names, else the request's."""
    code, message = str(reason.get("code", "")), str(reason.get("message", ""))
    currency = params.get("currency")
    if code == "cumulative_exceeded":
        match = _CUMULATIVE.match(message)
        if match:
            currency = match["currency"] or currency
            total = format_amount(match["total"], currency)
            limit = format_amount(match["max"], currency)
            per = _PER.get(match["per"], f"in {match['per']}")
            budget = _BUDGET.get(match["per"], f"budget per {match['per']}")
            return f"{total} {per} against a {limit} {budget}"
    if code == "velocity_exceeded":
        return message[:1].upper() + message[1:]
    return message


def changes(params: dict) -> list[tuple[str, str, str]]:
    """(param, from, to) for each param the request says it replaces (params.previous)."""
    previous = params.get("previous")
    if not isinstance(previous, dict):
        return []
    currency = params.get("currency")
    out = []
    for key, before in sorted(previous.items()):
        if key not in params:
            continue
        out.append((key, _value(before, currency), _value(params[key], currency)))
    return out


def _value(value: Any, currency: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_amount(value, currency) or str(value)
    return str(value)


# Approve asks "Approve $47,000?" first at or above either of these (phones: one stray tap
# must not approve a large amount). Amounts in any currency's units.
CONFIRM_AMOUNT = 10_000
CONFIRM_RISK = 0.7


def annotate(card, request):
    """Fill the card's impact fields from its request; returns the card."""
    params = request.params if isinstance(request.params, dict) else {}
    card.why = why_label(card.reasons)
    card.reason_lines = [(reason_sentence(r, params), str(r.get("code", ""))) for r in card.reasons]
    card.changes = changes(params)
    amount = _number(params.get(card.amount_key)) if card.amount_key else None
    if card.pending and ((amount is not None and abs(amount) >= CONFIRM_AMOUNT) or card.risk_score >= CONFIRM_RISK):
        what = card.amount or (f"{card.action} on {card.resource}" if card.resource else card.action)
        card.confirm = f"Approve {what} for {card.agent}?"
    return card


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
