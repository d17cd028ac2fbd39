"""The policy engine: plain Python, no Django. Envelope document in, compiled envelope out;
compiled envelope + request + state view in, decision out."""

from governance.policy.engine import evaluate
from governance.policy.envelope import CompiledEnvelope, EnvelopeError, compile_envelope
from governance.policy.state import EmptyState, MemoryState, StateView
from governance.policy.types import Decision, EscalationSpec, PolicyRequest, Reason, RiskFactor

__all__ = [
    "CompiledEnvelope",
    "Decision",
    "EmptyState",
    "EnvelopeError",
    "EscalationSpec",
    "MemoryState",
    "PolicyRequest",
    "Reason",
    "RiskFactor",
    "StateView",
    "compile_envelope",
    "evaluate",
]
