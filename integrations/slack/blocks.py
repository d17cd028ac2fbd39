"""Block Kit messages for Slack: an escalation (pending or resolved) and a breaker trip.

Everything shown comes from the agent's request, so it is untrusted text. The rule: text an
agent supplied (agent name, action, resource, params, reasons, reasoning, input source...)
appears only inside an inline code span or a plain_text object, always on one line. In a code
span Slack applies no formatting (`*`, `_`, `~`), `<`, `>` and `&` are escaped (no <!channel>
pings, <@U…> mentions or <url|disguised> links) and a backtick, which would end the span, is
replaced. Every mrkdwn object is sent with `verbatim: true`, so Slack does not turn bare URLs,
#channels or @mentions into links either. Newlines (and every other line or paragraph
separator) collapse to one space, so agent text can never add a line to the message. Text is
cut to Slack's size limits.
"""

import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from numbers import Number

from django.utils import timezone

from approvals.links import escalation_url
from approvals.models import Escalation, Vote
from approvals.outcomes import outcome_word
from approvals.routing import tiers_of
from governance.decide import effective_status
from governance.models import Agent
from integrations.slack.client import ACTION_APPROVE, ACTION_DENY

VIA = {"slack": "Slack", "web": "web", "api": "API"}


def oneline(text: object) -> str:
    """One line: every run of whitespace (\n, \r, \t, U+2028...) becomes one space, other
    control and format characters (zero-width, bidi overrides) are dropped."""
    words = str(text).split()
    return " ".join("".join(ch for ch in word if unicodedata.category(ch)[0] != "C") for word in words)


def escape(text: object) -> str:
    """Slack's mrkdwn escaping of &, < and > (its only escapes), on one line."""
    return oneline(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Words that cannot open or close mrkdwn formatting: letters and digits, joined by single
# . _ : - (an `_` between two letters or digits never starts or ends italics).
PLAIN_WORD = re.compile(r"[A-Za-z0-9]+(?:[._:\-][A-Za-z0-9]+)*")


def word(text: object) -> str:
    """A name (agent, action) as is when it is a plain word, else in a code span."""
    text = str(text)
    return text if PLAIN_WORD.fullmatch(text) else code(text)


def mrkdwn(text: str) -> dict:
    """A mrkdwn text object that Slack does not auto-link (bare URLs, #channels, @names)."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code(text: object, limit: int = 200) -> str:
    """Inline code, on one line; a backtick in the value would end the span early, so it
    becomes a quote."""
    inner = escape(text).replace("`", "'")
    return "`" + cut(inner, limit) + "`" if inner else "—"


def slack_date(moment: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """A date every reader sees in their own time zone; the fallback is UTC."""
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{fmt}|{fallback}>"


def _amount(params: dict) -> str | None:
    amount = params.get("amount")
    if not isinstance(amount, Number) or isinstance(amount, bool):
        return None
    currency = params.get("currency")
    text = f"{amount:,.2f}".removesuffix(".00")
    if not isinstance(currency, str):
        return text
    # An ISO code (three capital letters) cannot format anything; anything else is agent text.
    return f"{text} {currency}" if re.fullmatch(r"[A-Z]{3}", currency) else f"{text} {code(currency, 20)}"


def _key_params(params: dict, limit: int = 6) -> str:
    others = [(k, v) for k, v in params.items() if k not in ("amount", "currency")]
    lines = [f"{code(k, 40)} {code(v, 80)}" for k, v in others[:limit]]
    if len(others) > limit:
        lines.append(f"_…and {len(others) - limit} more_")
    return "\n".join(lines)


def _num(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, Number) and not isinstance(value, bool) else "?"


def _risk(risk: dict) -> str:
    score = risk.get("score")
    text = f"*{_num(score)}*" if isinstance(score, Number) else "—"
    factors = [
        f for f in risk.get("factors") or []
        if isinstance(f, dict) and isinstance(f.get("weight"), Number) and f["weight"] > 0
    ]
    factors = sorted(factors, key=lambda f: f["weight"], reverse=True)[:3]  # what drove the score
    if factors:
        # Factor names are Airlock's own (the risk model), not the agent's.
        text += " · " + ", ".join(f"{escape(f.get('name', '?'))} +{_num(f.get('weight'))}" for f in factors)
    return text


def _voter(vote: Vote) -> str:
    return f"{escape(vote.user.get_username())} ({VIA.get(vote.via, escape(vote.via))})"


def _progress(escalation: Escalation, votes: list[Vote]) -> str:
    approvals = [v for v in votes if v.choice == Vote.Choice.APPROVE]
    text = f"{len(approvals)} of {escalation.quorum}"
    if approvals:
        text += ": " + ", ".join(_voter(v) for v in approvals)
    return text


def _outcome(status: str, escalation: Escalation, votes: list[Vote]) -> str:
    request = escalation.request
    when = request.decided_at or escalation.resolved_at or escalation.deadline
    if status == "expired":
        return (
            f":hourglass: *Expired* {slack_date(escalation.deadline)}: nobody decided in time, "
            "so the answer is *deny*."
        )
    by_name = {v.user.get_username(): v for v in votes}
    names = [_voter(by_name[n]) if n in by_name else escape(n) for n in request.decided_by or []]
    who = ", ".join(names) or "—"
    icon = ":white_check_mark:" if status == "approved" else ":no_entry:"
    word = outcome_word(status)
    text = f"{icon} *{word}* by {who} · {slack_date(when)}"
    if request.comment:
        text += "\n>" + cut(escape(request.comment), 500)
    return text


def escalation_message(
    escalation: Escalation, votes: Iterable[Vote], *, now: datetime | None = None
) -> tuple[str, list[dict]]:
    """(notification text, blocks) for an escalation in its current state: Approve / Deny
    buttons while pending; the outcome, who decided and when once resolved."""
    request = escalation.request
    votes = list(votes)
    status = effective_status(request, now)
    agent, params = request.agent.name, request.params if isinstance(request.params, dict) else {}
    header = outcome_word(status)
    # plain_text (the header) is shown as typed, on one line; the fallback `text` (notifications)
    # is mrkdwn, so agent text goes in code spans there too.
    title = oneline(f"{header}: {agent} wants {request.action}" + (f" on {request.resource}" if request.resource else ""))
    text = f"{header}: {word(agent)} wants {word(request.action)}"
    text = cut(text + (f" on {code(request.resource, 500)}" if request.resource else ""), 1000)

    fields = [
        f"*Agent*\n{code(agent)}",
        f"*Action*\n{code(request.action)}",
        f"*Resource*\n{code(request.resource)}",
    ]
    amount = _amount(params)
    if amount:
        fields.append(f"*Amount*\n{amount}")
    fields.append(f"*Risk*\n{_risk(request.risk or {})}")
    fields.append(f"*Approvals*\n{_progress(escalation, votes)}")
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(title, 150), "emoji": True}},
        {"type": "section", "fields": [mrkdwn(cut(f, 1900)) for f in fields]},
    ]
    reasons = [r for r in request.reasons or [] if isinstance(r, dict)][:6]
    if reasons:
        lines = [f"• {code(r.get('message') or r.get('code', ''), 300)} ({code(r.get('code', ''), 60)})" for r in reasons]
        blocks.append({"type": "section", "text": mrkdwn(cut("*Why*\n" + "\n".join(lines), 2900))})
    more = _key_params(params)
    if more:
        blocks.append({"type": "section", "text": mrkdwn(cut("*Params*\n" + more, 2900))})
    context = request.context if isinstance(request.context, dict) else {}
    if context.get("reasoning"):
        source = f" (input from {word(request.input_source)})" if request.input_source else ""
        blocks.append({
            "type": "context",
            "elements": [mrkdwn(f"_Agent's reasoning{source}:_ {code(context['reasoning'], 1700)}")],
        })
    groups = escape(", ".join(escalation.approver_groups or []) or "staff only")
    for tier in tiers_of(escalation):  # later tiers (approvals/routing.py): who joins, and when
        groups += f", then {escape(', '.join(tier['groups']))} from {slack_date(tier['opens_at'], '{time}')}"
    # The escalation's permanent page (votes, audit, history); Slack links need an absolute URL.
    url = escalation_url(request.id)
    page = f" · <{url}|open in Airlock>" if url.startswith("http") else ""
    blocks.append({
        "type": "context",
        "elements": [mrkdwn(cut(
            f"Deadline {slack_date(escalation.deadline)} · approvers: {groups} · request {code(request.id)}{page}", 1900
        ))],
    })
    if status == "pending":
        blocks.append({
            "type": "actions",
            "block_id": "airlock_decision",
            "elements": [
                {"type": "button", "action_id": ACTION_APPROVE, "style": "primary", "value": str(request.id),
                 "text": {"type": "plain_text", "text": "Approve"}},
                {"type": "button", "action_id": ACTION_DENY, "style": "danger", "value": str(request.id),
                 "text": {"type": "plain_text", "text": "Deny"}},
            ],
        })
    else:
        outcome = _outcome(status, escalation, votes)
        blocks.append({"type": "section", "text": mrkdwn(cut(outcome, 2900))})
    return text, blocks


def breaker_message(agent: Agent, reason: str, *, at: datetime | None = None) -> tuple[str, list[dict]]:
    """(text, blocks) announcing that an agent's circuit breaker tripped."""
    at = at or agent.breaker_tripped_at or timezone.now()
    title = oneline(f"Circuit breaker tripped: {agent.name} is now supervised")
    text = f"Circuit breaker tripped: {word(agent.name)} is now supervised"
    # The reason may quote the agent's request, so it is agent text: one line, in a code span.
    body = (
        f"Agent {code(agent.name)} is now *supervised*: every action it asks for needs a human "
        f"until an admin resets the breaker.\n*Reason:* {code(reason or '—', 1500)}"
    )
    return text, [
        {"type": "header", "text": {"type": "plain_text", "text": cut(title, 150), "emoji": True}},
        {"type": "section", "text": mrkdwn(body)},
        {"type": "context", "elements": [mrkdwn(f"Tripped {slack_date(at)}")]},
    ]
