"""Values that cross the engine's boundary."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

INPUT_SOURCES = ("user", "model", "config", "system", "tool")


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    rule: str = ""

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "rule": self.rule}


@dataclass(frozen=True)
class RiskFactor:
    name: str
    weight: float

    def as_dict(self) -> dict:
        return {"name": self.name, "weight": round(self.weight, 4)}


@dataclass(frozen=True)
class PolicyRequest:
    """What the agent asked, plus who it is and when."""

    action: str
    resource: str
    params: dict
    context: dict
    agent: str
    now: datetime
    # "enforce", or "supervised" when the envelope or a tripped breaker says so.
    agent_mode: str = "enforce"
    agent_suspended: bool = False
    # The resource's facts in force (governance/policy/facts.py), the CEL variable `facts`.
    facts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EscalationSpec:
    quorum: int
    approvers: tuple[str, ...]
    ttl_seconds: int
    # Escalation tiers: ((after_seconds, (group, ...)), ...), earliest first. While the request
    # is still pending `after` seconds in, those groups become eligible too; the deadline stays.
    tiers: tuple[tuple[int, tuple[str, ...]], ...] = ()


@dataclass
class Decision:
    decision: str  # allow | deny | escalate
    reasons: list[Reason] = field(default_factory=list)
    risk_score: float = 0.0
    risk_factors: list[RiskFactor] = field(default_factory=list)
    capability: int | None = None
    # A violation is a request the envelope says the agent should never have made.
    violation: bool = False
    escalation: EscalationSpec | None = None
    envelope_version: int | None = None

    @property
    def status(self) -> str:
        return {"allow": "allowed", "deny": "denied", "escalate": "pending"}[self.decision]

    def risk_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.risk_score, 4),
            "factors": [f.as_dict() for f in self.risk_factors],
        }
