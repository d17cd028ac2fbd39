"""Approve with edits: would the capability have refused these params outright?

An approver may change an escalated request's params before approving (a smaller amount, a
narrower target). The edited params must still pass the capability's params_schema and must
not match any of its deny_when rules; escalate_when and the stateful limits do not apply
(the human is the escalation). Any error evaluating a rule refuses the edit (fail closed).
"""

from governance.policy.engine import RuleError, _activation, _run
from governance.policy.envelope import CompiledEnvelope
from governance.policy.types import PolicyRequest, Reason


def edit_refusal(envelope: CompiledEnvelope, capability: int | None, request: PolicyRequest) -> Reason | None:
    """None when the capability accepts `request.params`; otherwise why not."""
    if capability is None or not 0 <= capability < len(envelope.capabilities):
        # Escalated by the envelope's default (no capability matched): there is no schema
        # to hold edited params against, so nothing can vouch for them.
        return Reason("edit_denied", "this request matched no capability, so its params cannot be edited")
    cap = envelope.capabilities[capability]
    rule_name = f"capabilities[{cap.index}]"
    if cap.params_validator is not None:
        error = next(iter(cap.params_validator.iter_errors(request.params)), None)
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path) or "params"
            return Reason("edit_denied", f"{where}: {error.message}", f"{rule_name}.params_schema")
    if not cap.deny_when:
        return None
    try:
        activation = _activation(cap, request)
        for rule in cap.deny_when:
            if _run(rule, activation):
                return Reason("edit_denied", f"the envelope denies these params: {rule.message}", rule.field)
    except RuleError as exc:
        return Reason("edit_denied", f"the envelope's rules could not be evaluated: {exc}")
    return None
