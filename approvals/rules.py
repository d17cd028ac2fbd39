"""The envelope's rules for approvers (issue 12): comment_required_at_risk, web_only_at_risk,
max_extension. Read from the envelope version that decided the request, the capability's own
value first, then the envelope's; absent means no such rule (max_extension: one
escalation_ttl). The escalation's permanent link is approvals.links.escalation_url().
"""

from dataclasses import dataclass

from governance.models import DecisionRequest
from governance.policy.durations import parse_duration

# Votes recorded on Airlock's own surfaces: the escalation's page / queue, and the approver
# API. Everything else (slack, email, ...) is a channel, refused at or above web_only_at_risk.
OWN_SURFACES = ("web", "api")


@dataclass(frozen=True)
class ApproverRules:
    comment_required_at_risk: float | None
    web_only_at_risk: float | None
    max_extension_seconds: int | None  # None: one escalation_ttl of this escalation


def _rule(request: DecisionRequest, name: str):
    document = request.envelope.document if request.envelope_id else {}
    if not isinstance(document, dict):
        return None
    capabilities = document.get("capabilities") or []
    if request.capability is not None and 0 <= request.capability < len(capabilities):
        cap = capabilities[request.capability]
        if isinstance(cap, dict) and name in cap:
            return cap[name]
    return document.get(name)


def approver_rules(request: DecisionRequest) -> ApproverRules:
    """The rules that govern votes on this request (the envelope was validated when applied)."""
    extension = _rule(request, "max_extension")
    return ApproverRules(
        comment_required_at_risk=_rule(request, "comment_required_at_risk"),
        web_only_at_risk=_rule(request, "web_only_at_risk"),
        max_extension_seconds=parse_duration(extension) if extension is not None else None,
    )


def risk_score(request: DecisionRequest) -> float:
    risk = request.risk if isinstance(request.risk, dict) else {}
    try:
        return float(risk.get("score") or 0)
    except (TypeError, ValueError):
        # Unreadable risk: treat as the highest, so every rule that guards risk applies.
        return 1.0


def at_or_above(score: float, threshold) -> bool:
    return threshold is not None and score >= float(threshold)
