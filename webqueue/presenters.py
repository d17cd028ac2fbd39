"""What an approver sees on a queue card: an escalation turned into plain display values.

Pure presentation: no queries except through the selectors handed in, so the page, the
POST responses and the websocket pushes all render the same card from the same data.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from approvals.models import Escalation, Vote
from approvals.outcomes import outcome_word
from governance.decide import effective_status
from governance.models import Agent, DecisionRequest
from governance.policy.facts import summary as facts_summary

# Params shown big at the top of a card: what the action costs is what people misjudge at 3 AM.
AMOUNT_KEYS = ("amount", "total", "price", "cost", "value")
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
FACTOR_LABELS = {
    "velocity": "many similar actions recently",
    "amount_vs_limit": "close to the cumulative limit",
    "novel_resource": "never used this resource before",
    "off_hours": "outside working hours",
    "confidence_unknown": "agent gave no confidence",
    "low_confidence": "agent is unsure",
    "input_source_user": "triggered by user input",
    "input_source_tool": "triggered by tool output",
    "input_source_model": "triggered by model output",
    "input_source_unknown": "input source unknown",
}
INPUT_SOURCE_LABELS = {
    "user": "a user's message",
    "model": "the model itself",
    "tool": "a tool's output",
    "config": "configuration",
    "system": "the system",
}


def format_amount(value: Any, currency: Any = None) -> str | None:
    """'$47,000' / '€1,250.50' / '300 CHF'; None when the value is not a number."""
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite():
        return None
    text = f"{number:,.0f}" if number == number.to_integral_value() else f"{number:,.2f}"
    code = str(currency).upper() if isinstance(currency, str) else ""
    if code in CURRENCY_SYMBOLS:
        return f"{'-' if number < 0 else ''}{CURRENCY_SYMBOLS[code]}{text.lstrip('-')}"
    return f"{text} {code}".strip()


def risk_level(score: float) -> str:
    if score >= 0.7:
        return "high"
    if score >= 0.4:
        return "medium"
    return "low"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, (int, float)):
        return format_amount(value) or str(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def ago(then: datetime, now: datetime) -> str:
    """'just now', '5 min ago', '3 h ago', '2 d ago': coarse, cheap, enough for history."""
    seconds = int((now - then).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


@dataclass(frozen=True)
class HistoryRow:
    """One earlier request by the same agent."""

    created_at: datetime
    action: str
    resource: str
    amount: str | None
    status: str
    ago: str

    @property
    def created_at_iso(self) -> str:
        return self.created_at.isoformat()


@dataclass(frozen=True)
class VoteRow:
    username: str
    choice: str
    comment: str


@dataclass
class Card:
    """Everything one queue card shows."""

    id: str
    agent: str
    agent_supervised: bool
    action: str
    resource: str
    amount: str | None
    amount_key: str | None
    params: list[tuple[str, str]]
    reasons: list[dict]
    risk_score: float
    risk_level: str
    risk_factors: list[tuple[str, str, str]]
    reasoning: str
    confidence: str | None
    input_source: str
    input_source_label: str
    session: str
    created_at: datetime
    deadline: datetime
    quorum: int
    votes: list[VoteRow]
    status: str
    decided_by: list[str] = field(default_factory=list)
    comment: str = ""
    history: list[HistoryRow] = field(default_factory=list)
    my_vote: str | None = None
    can_vote: bool = True
    message: str = ""
    message_kind: str = ""
    # Impact in words (webqueue/impact.py, filled in by cards.py): why a human is asked, the
    # reasons as sentences with their rule codes, changes as from -> to, and whether Approve
    # asks for confirmation first.
    why: str = ""
    reason_lines: list[tuple[str, str]] = field(default_factory=list)
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    confirm: str = ""

    @property
    def page_path(self) -> str:
        # Built here, not with {% url %}: 25 cards x 3 reverses per page add up.
        return f"/escalations/{self.id}/"

    @property
    def vote_path(self) -> str:
        return f"/escalations/{self.id}/vote"

    @property
    def headline(self) -> str:
        return self.amount or self.resource

    @property
    def top_reason(self) -> str:
        return self.reason_lines[0][0] if self.reason_lines else ""

    @property
    def key_factors(self) -> list[tuple[str, str, str]]:
        return self.risk_factors[:3]
    # The resource's facts when it was decided, as one line ("payments-failover, protected — ...").
    facts: str = ""

    @property
    def dom_id(self) -> str:
        return f"esc-{self.id}"

    @property
    def approvals(self) -> int:
        return sum(1 for v in self.votes if v.choice == Vote.Choice.APPROVE)

    @property
    def pending(self) -> bool:
        return self.status == DecisionRequest.Status.PENDING

    @property
    def outcome_label(self) -> str:
        return outcome_word(self.status)

    @property
    def risk_text(self) -> str:
        return f"{self.risk_score:.2f}"

    @property
    def created_at_text(self) -> str:
        return self.created_at.astimezone(UTC).strftime("%H:%M:%S")

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def deadline_iso(self) -> str:
        return self.deadline.isoformat().replace("+00:00", "Z")

    @property
    def remaining(self) -> str:
        """Time left as the countdown shows it before the script takes over: 14:05 or 1:02:03."""
        seconds = max(0, int((self.deadline - timezone.now()).total_seconds()))
        hours, rest = divmod(seconds, 3600)
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"

    @property
    def approvals_missing(self) -> int:
        return max(0, self.quorum - self.approvals)

    @property
    def progress_percent(self) -> int:
        return min(100, round(100 * self.approvals / max(1, self.quorum)))


def history_rows(requests: list[DecisionRequest], now: datetime | None = None) -> list[HistoryRow]:
    now = now or timezone.now()
    rows = []
    for r in requests:
        params = r.params if isinstance(r.params, dict) else {}
        key = next((k for k in AMOUNT_KEYS if k in params), None)
        rows.append(
            HistoryRow(
                created_at=r.created_at,
                action=r.action,
                resource=r.resource,
                amount=format_amount(params[key], params.get("currency")) if key else None,
                status=effective_status(r, now),
                ago=ago(r.created_at, now),
            )
        )
    return rows


def card_for(
    escalation: Escalation,
    *,
    user=None,
    history: list[DecisionRequest] | None = None,
    now: datetime | None = None,
) -> Card:
    """Build the card for one escalation (votes should be prefetched with their users)."""
    now = now or timezone.now()
    request: DecisionRequest = escalation.request
    agent: Agent = request.agent
    params = request.params if isinstance(request.params, dict) else {}
    context = request.context if isinstance(request.context, dict) else {}
    amount_key = next((k for k in AMOUNT_KEYS if k in params and format_amount(params[k]) is not None), None)
    amount = format_amount(params[amount_key], params.get("currency")) if amount_key else None
    shown = {amount_key, "currency"} if amount_key else set()
    risk = request.risk if isinstance(request.risk, dict) else {}
    score = float(risk.get("score") or 0)
    factors = sorted(
        (
            (f.get("name", ""), FACTOR_LABELS.get(f.get("name", ""), f.get("name", "").replace("_", " ")), float(f.get("weight") or 0))
            for f in risk.get("factors", [])
            if isinstance(f, dict)
        ),
        key=lambda f: -f[2],
    )
    votes = sorted(escalation.votes.all(), key=lambda v: v.created_at)
    confidence = context.get("confidence")
    source = request.input_source or str(context.get("input_source", ""))
    my_vote = next((v.choice for v in votes if user is not None and v.user_id == user.pk), None)
    status = effective_status(request, now)
    return Card(
        id=str(request.pk),
        agent=agent.name,
        agent_supervised=request.agent_mode == "supervised",
        action=request.action,
        resource=request.resource,
        amount=amount,
        amount_key=amount_key,
        params=[(k, _text(v)) for k, v in sorted(params.items()) if k not in shown],
        reasons=[r for r in request.reasons if isinstance(r, dict)],
        risk_score=score,
        risk_level=risk_level(score),
        risk_factors=[(name, label, f"{weight:.2f}") for name, label, weight in factors],
        reasoning=str(context.get("reasoning", "")),
        confidence=f"{confidence:.0%}" if isinstance(confidence, (int, float)) and not isinstance(confidence, bool) else None,
        input_source=source,
        input_source_label=INPUT_SOURCE_LABELS.get(source, source or "not given"),
        session=request.session,
        created_at=request.created_at,
        deadline=escalation.deadline,
        quorum=escalation.quorum,
        votes=[VoteRow(v.user.get_username(), v.choice, v.comment) for v in votes],
        status=status,
        decided_by=list(request.decided_by or []),
        comment=request.comment,
        history=history_rows(history or [], now),
        my_vote=my_vote,
        can_vote=status == DecisionRequest.Status.PENDING and my_vote is None,
        facts=facts_summary((request.facts or {}).get("values") or {}) if isinstance(request.facts, dict) else "",
    )
