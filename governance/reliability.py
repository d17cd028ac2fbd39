"""decide()'s one hook into the reliability features of issue 15: the shadow envelope's
answer (governance/shadow.py) and the model-version drift counts (governance/drift.py)."""

from governance.drift import drift_observe
from governance.models import Agent, DecisionRequest
from governance.policy import CompiledEnvelope
from governance.shadow import ShadowOutcome, shadow_evaluate, shadow_record, shadow_state

__all__ = ["reliability_record", "shadow_evaluate", "shadow_state"]


def reliability_record(*, agent: Agent, row: DecisionRequest, compiled: CompiledEnvelope | None,
                       shadow: ShadowOutcome | None) -> None:
    """After decide recorded its answer (same transaction, agent row locked)."""
    shadow_record(agent=agent, row=row, outcome=shadow)
    drift_observe(agent=agent, row=row, compiled=compiled)
