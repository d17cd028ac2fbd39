"""The read model of one escalation's page (/escalations/<id>/): the card, plus every vote,
its audit events, the agent's recent history, and for a sequence the chain's earlier steps.
Only for people who may see the escalation (the queue's own visibility rule)."""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from approvals.eligibility import vote_label
from approvals.links import escalation_url
from approvals.models import Vote
from approvals.rules import approver_rules
from governance.decide import effective_status
from governance.models import AuditEvent, DecisionRequest
from governance.policy.durations import parse_duration
from governance.policy.globs import glob_match
from webqueue import cards
from webqueue.presenters import Card, history_rows

HISTORY = 15
AUDIT_LIMIT = 200


def as_json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class VoteLine:
    username: str
    choice: str
    via: str
    comment: str
    at: datetime
    params: dict | None

    @property
    def params_json(self) -> str:
        return as_json(self.params)


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    kind: str
    actor: str
    payload_json: str


@dataclass(frozen=True)
class ChainStep:
    sequence: str
    pattern: str
    request: DecisionRequest | None
    status: str


@dataclass
class EscalationPage:
    card: Card
    request: DecisionRequest
    votes: list[VoteLine]
    audit: list[AuditLine]
    history: list
    chain: list[ChainStep] = field(default_factory=list)
    link: str = ""
    extended_seconds: int = 0
    max_extension_seconds: int | None = None
    editable_params: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def approved_params_json(self) -> str:
        return as_json(self.request.approved_params)

    @property
    def outcome(self) -> dict | None:
        """What the agent reported it did (POST /api/v1/requests/{id}/outcome), or None."""
        return self.request.reported_outcome

    @property
    def outcome_effects_json(self) -> str:
        return as_json((self.request.reported_outcome or {}).get("effects") or {})


def _chain(request: DecisionRequest) -> list[ChainStep]:
    """For each sequence this request completed: every step of the chain, the earlier ones
    with the request that made them (any agent, same key, within the window) and its status."""
    document = request.envelope.document if request.envelope_id and isinstance(request.envelope.document, dict) else {}
    sequences = {s.get("name"): s for s in document.get("sequences") or [] if isinstance(s, dict)}
    steps: list[ChainStep] = []
    for reason in request.reasons or []:
        if not isinstance(reason, dict) or reason.get("code") != "sequence_complete":
            continue
        sequence = sequences.get(str(reason.get("rule", "")).removeprefix("sequences."))
        if sequence is None:
            continue
        key = sequence.get("key", "resource")
        value = request.resource if key == "resource" else str((request.context or {}).get(key.removeprefix("context."), ""))
        within = sequence.get("within")
        try:
            seconds = parse_duration(within)
        except (ValueError, TypeError):
            seconds = 3600
        earlier = DecisionRequest.objects.filter(
            created_at__gte=request.created_at - timedelta(seconds=seconds), created_at__lte=request.created_at
        ).exclude(pk=request.pk).select_related("agent").order_by("created_at")
        earlier = earlier.filter(resource=value) if key == "resource" else earlier.filter(session=value[:200])
        rows = list(earlier[:200])
        match = list(sequence.get("match") or [])
        for pattern in match[:-1]:
            found = next((r for r in reversed(rows) if glob_match(r.action, pattern)), None)
            steps.append(ChainStep(sequence["name"], pattern, found, effective_status(found) if found else "missing"))
        steps.append(ChainStep(sequence["name"], match[-1] if match else request.action, request, effective_status(request)))
    return steps


def _editable(params: dict) -> list[tuple[str, str, str]]:
    """(key, kind, value as typed) for the approve-with-edits form: scalars only."""
    out = []
    for key, value in sorted(params.items()):
        if isinstance(value, bool):
            out.append((key, "bool", "true" if value else "false"))
        elif isinstance(value, (int, float)):
            out.append((key, "number", str(value)))
        elif isinstance(value, str):
            out.append((key, "string", value))
    return out


def escalation_page(user, request_id, *, now: datetime | None = None) -> EscalationPage | None:
    """None when there is no such escalation or this person may not see it (the view: 404)."""
    now = now or timezone.now()
    card = cards.card(user, request_id, now=now)
    if card is None:
        return None
    request = DecisionRequest.objects.select_related("agent", "envelope", "escalation").get(pk=request_id)
    votes = [
        VoteLine(vote_label(v), v.choice, v.via, v.comment, v.created_at, v.params)
        for v in Vote.objects.filter(escalation_id=request_id).select_related("user", "on_behalf_of").order_by("created_at", "pk")
    ]
    audit = [
        AuditLine(e.created_at, e.kind, e.actor, as_json(e.payload))
        for e in AuditEvent.objects.filter(request_id=request_id).order_by("created_at", "id")[:AUDIT_LIMIT]
    ]
    history = history_rows(
        list(DecisionRequest.objects.filter(agent_id=request.agent_id).exclude(pk=request.pk).order_by("-created_at")[:HISTORY]),
        now,
    )
    params = request.params if isinstance(request.params, dict) else {}
    return EscalationPage(
        card=card, request=request, votes=votes, audit=audit, history=history, chain=_chain(request),
        link=escalation_url(request.pk), extended_seconds=request.escalation.extended_seconds,
        max_extension_seconds=approver_rules(request).max_extension_seconds,
        editable_params=_editable(params),
    )


def decided_by(user, *, page: int = 1, per_page: int = 25) -> tuple[list[dict], int]:
    """The escalations this person voted on, newest vote first, and how many in total."""
    votes = Vote.objects.filter(user=user).select_related("escalation__request__agent").order_by("-created_at", "-pk")
    total = votes.count()
    rows = []
    for v in votes[(page - 1) * per_page: page * per_page]:
        r = v.escalation.request
        rows.append({"vote": v, "request": r, "status": effective_status(r), "agent": r.agent.name})
    return rows, total
