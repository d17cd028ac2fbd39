"""evaluate(): the decision procedure of SPEC §5, in order. First deny wins; any error denies."""

import logging

import cel

from governance.policy.cel_bounds import is_panic
from governance.policy.cel_fast import convertible
from governance.policy.durations import format_duration
from governance.policy.envelope import Capability, CompiledEnvelope, Rule
from governance.policy.globs import glob_match
from governance.policy.state import NO_CURRENCY, NUMBER_CAP, ODD_CURRENCY, StateView, currency_group
from governance.policy.types import Decision, EscalationSpec, PolicyRequest, Reason, RiskFactor

logger = logging.getLogger("airlock.policy")

INPUT_SOURCE_WEIGHT = {"user": 0.2, "tool": 0.1, "model": 0.1, "config": 0.0, "system": 0.0}


class RuleError(Exception):
    """A CEL condition failed at run time (missing field, wrong type, non-boolean)."""


def _deny(code: str, message: str, rule: str = "", **kw) -> Decision:
    return Decision("deny", [Reason(code, message, rule)], **kw)


def _run(rule: Rule, activation: dict) -> bool:
    try:
        result = rule.program.execute(activation)
    except Exception as exc:  # the CEL library raises several types; all mean "cannot evaluate"
        raise RuleError(f"{rule.field}: {type(exc).__name__}: {exc}") from exc
    except BaseException as exc:
        # A Rust panic (pyo3's PanicException derives from BaseException): still only
        # "cannot evaluate", which denies; anything else (KeyboardInterrupt) is not ours.
        if not is_panic(exc):
            raise
        raise RuleError(f"{rule.field}: the CEL interpreter failed: {exc}") from None
    if not isinstance(result, bool):
        raise RuleError(f"{rule.field}: expected a boolean, got {type(result).__name__}")
    return result


def _activation(cap: Capability, request: PolicyRequest) -> cel.Context:
    """The CEL variables this capability's rules read, converted once for all of them.

    Converting a value into CEL costs microseconds per value, and a plain dict is converted
    again on every execute(); a Context converts once. Variables no rule references are
    left out: JSON values always convert, so leaving them out changes no answer."""
    values = {
        "action": request.action,
        "resource": request.resource,
        "params": request.params,
        "context": request.context,
        "now": request.now,
        "agent": {"name": request.agent, "mode": request.agent_mode},
        "facts": request.facts,
    }
    try:
        return cel.Context({name: values[name] for name in cap.cel_variables})
    except BaseException as exc:  # a value CEL cannot represent: no rule can be evaluated
        if not isinstance(exc, Exception) and not is_panic(exc):
            raise
        first = (cap.deny_when or cap.escalate_when)[0]
        raise RuleError(f"{first.field}: {type(exc).__name__}: {exc}") from exc


def _over(reason: Reason, cap: Capability, version: int | None) -> Decision:
    """A stateful limit whose envelope says `over: deny`."""
    return Decision("deny", [reason], capability=cap.index, violation=True, envelope_version=version)


def _fast_values(cap: Capability, request: PolicyRequest) -> dict | None:
    """The variables for the rules' fast functions, or None: take the CEL path for all of
    them (no fast function, or a value CEL might refuse, whose error the CEL path reports)."""
    if cap.fast_variables is None:
        return None
    values = {}
    for name in cap.fast_variables:
        value = getattr(request, name)
        if not convertible(value):
            return None
        values[name] = value
    return values


def _holds(rule: Rule, values: dict | None, lazy: list, cap: Capability, request: PolicyRequest) -> bool:
    """Does the rule's condition hold? Its fast function when that is certain, else CEL (the
    activation built once per request, on first need)."""
    if values is not None and rule.fast is not None:
        result = rule.fast(values)
        if result is True or result is False:
            return result
    if lazy[0] is None:
        lazy[0] = _activation(cap, request)
    return _run(rule, lazy[0])


def _prefetch(cap: Capability, request: PolicyRequest, state: StateView) -> None:
    """Tell a state view that can batch (the database: one round trip instead of one per
    question, while the agent row is locked) the questions step 6 may ask, with exactly the
    arguments it will ask them with. Optional: the answers must not change."""
    prefetch = getattr(state, "prefetch", None)
    if prefetch is None:
        return
    questions: list[tuple[str, dict]] = []
    if cap.velocity:
        v = cap.velocity
        questions.append(("count", {"action": cap.action, "window": v["per"], "now": request.now, "limit": v["max"]}))
    if cap.cumulative:
        c = cap.cumulative
        currencies = _budget_currencies(c, request.params)
        if currencies is not None:
            questions.append(("total", {"action": cap.action, "param": c["param"], "window": c["per"], "now": request.now,
                                        "currencies": currencies}))
    if request.resource:
        questions.append(("seen", {"field": "resource", "value": request.resource}))
    for field in cap.escalate_on_novel:
        if field != "resource" and request.params.get(field[7:]) is not None:
            questions.append(("seen", {"field": field, "value": request.params[field[7:]]}))
    if questions:
        prefetch(questions)


def _budget_currencies(cumulative: dict, params: dict) -> tuple[str, ...] | None:
    """The currency groups (governance.policy.state.currency_group) a cumulative budget adds
    this request to, or None when the request cannot be compared with the budget. A budget
    with `currency` counts that currency and requests without one; a budget without counts
    each currency apart (requests without one are a group of their own). Never across."""
    group = currency_group(params)
    budget = cumulative.get("currency")
    if budget:
        return (budget, NO_CURRENCY) if group in (budget, NO_CURRENCY) else None
    return None if group == ODD_CURRENCY else (group,)


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    # JSON integers have no size limit; clamp so float() cannot overflow.
    return float(max(min(value, NUMBER_CAP), -NUMBER_CAP))


def _key_value(request: PolicyRequest, key: str) -> str:
    if key == "resource":
        return request.resource
    value = request.context.get(key.removeprefix("context."))
    return value if isinstance(value, str) else ""


def _sequence_completes(sequence, request: PolicyRequest, state: StateView) -> bool:
    if not glob_match(request.action, sequence.match[-1]):
        return False
    value = _key_value(request, sequence.key)
    if not value:
        return False
    history = state.recent_actions(key=sequence.key, value=value, within=sequence.within, now=request.now)
    wanted = list(sequence.match[:-1])
    for action, _at in history:
        if wanted and glob_match(action, wanted[0]):
            wanted.pop(0)
    return not wanted


def _flood_guard(envelope: CompiledEnvelope, request: PolicyRequest, state: StateView, decision: Decision) -> Decision:
    """max_pending: with that many of the agent's escalations still pending, another one is
    denied as review_flood, a violation (it counts toward the breaker): an agent cannot bury
    its approvers in requests until one slips through."""
    if envelope.max_pending is None:
        return decision
    pending = state.pending(now=request.now, limit=envelope.max_pending)
    if pending < envelope.max_pending:
        return decision
    return Decision(
        "deny",
        [Reason("review_flood", f"{pending} escalations of agent {request.agent} are already pending "
                f"(max_pending {envelope.max_pending})", "max_pending"), *decision.reasons],
        decision.risk_score, decision.risk_factors, decision.capability, violation=True,
        envelope_version=decision.envelope_version,
    )


def evaluate(envelope: CompiledEnvelope | None, request: PolicyRequest, state: StateView) -> Decision:
    """Decide one request. Never raises: an error of any kind is a deny (governance_error)."""
    try:
        return _evaluate(envelope, request, state)
    except BaseException as exc:
        # Exceptions, and panics of the native CEL library (BaseException, not Exception).
        if not isinstance(exc, Exception) and not is_panic(exc):
            raise
        logger.exception(
            "policy evaluation failed; denying", extra={"agent": request.agent, "action": request.action}
        )
        return _deny("governance_error", f"evaluation failed: {type(exc).__name__}: {exc}")


def _evaluate(envelope: CompiledEnvelope | None, request: PolicyRequest, state: StateView) -> Decision:
    # 1. Suspended agents are denied outright.
    if request.agent_suspended:
        return _deny("agent_suspended", f"agent {request.agent} is suspended")
    # 3. No envelope, no permission.
    if envelope is None:
        return _deny("no_envelope", f"agent {request.agent} has no active envelope")
    version = envelope.version

    # 4. The first capability that matches both action and resource governs the request
    # (among those whose action pattern matches, indexed by action at compile time).
    cap: Capability | None = envelope.capability_for(request.action, request.resource)
    if cap is None:
        message = f"{request.action} on {request.resource or '(no resource)'} matches no capability"
        if envelope.default == "escalate":
            decision = Decision(
                "escalate",
                [Reason("outside_envelope", message)],
                escalation=EscalationSpec(envelope.quorum, envelope.approvers, envelope.ttl_seconds, envelope.tiers),
                envelope_version=version,
            )
            return _flood_guard(envelope, request, state, decision)
        return _deny("outside_envelope", message, violation=True, envelope_version=version)
    rule_name = cap.rule_name

    # 5. Shape and hard limits. The compiled check answers the valid case; jsonschema
    # decides (and words the error) whenever it is not certain.
    if cap.params_validator is not None and not (cap.params_check is not None and cap.params_check(request.params)):
        error = next(iter(cap.params_validator.iter_errors(request.params)), None)
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path) or "params"
            return _deny(
                "invalid_params", f"{where}: {error.message}", f"{rule_name}.params_schema",
                capability=cap.index, violation=True, envelope_version=version,
            )
    values = None
    lazy: list = [None]
    if cap.deny_when or cap.escalate_when:
        values = _fast_values(cap, request)
        if values is None:
            # Built here, before anything else, as always: a value CEL cannot take denies now.
            lazy[0] = _activation(cap, request)
    for rule in cap.deny_when:
        if _holds(rule, values, lazy, cap, request):
            return _deny(rule.code, rule.message, rule.field, capability=cap.index, violation=True, envelope_version=version)

    escalate: list[Reason] = []
    factors: list[RiskFactor] = []
    _prefetch(cap, request, state)

    # A limit the envelope says to deny (`over: deny`) is a violation like any other: it is
    # captured as an anomaly and counts toward the circuit breaker; `over: escalate` adds a reason.

    # 6. Stateful checks. Velocity and cumulative count every action the capability's
    # pattern matches, so alternating between crm.read and crm.export cannot double a budget.
    if cap.velocity:
        v = cap.velocity
        # Counting stops at max: whether the limit is reached is all that matters.
        count = state.count(action=cap.action, window=v["per"], now=request.now, limit=v["max"])
        if v["max"]:
            factors.append(RiskFactor("velocity", 0.2 * min(1.0, count / v["max"])))
        if count >= v["max"]:
            reason = Reason("velocity_exceeded", f"limit of {v['max']} {cap.action} per {format_duration(v['per'])} reached", f"{rule_name}.velocity")
            if v["over"] == "deny":
                return _over(reason, cap, version)
            escalate.append(reason)
    if cap.cumulative:
        c = cap.cumulative
        amount = _number(request.params.get(c["param"]))
        if amount is None or amount < 0:
            # A negative amount would lower the running total and reopen the budget.
            return _deny(
                "invalid_params", f"params.{c['param']} must be a number >= 0 for the cumulative limit",
                f"{rule_name}.cumulative", capability=cap.index, violation=True, envelope_version=version,
            )
        currencies = _budget_currencies(c, request.params)
        if currencies is None:
            # Another currency (or none we can read) cannot be compared with this budget:
            # a person judges it; the budget never allows it.
            given = request.params.get("currency")
            if c.get("currency") and currency_group(request.params) != ODD_CURRENCY:
                message = f"{given} cannot be counted against the {c['currency']} budget on {c['param']}: a person judges it"
            else:
                message = (f"params.currency {given!r} is not a 3-letter currency code (like USD): "
                           f"the {c.get('currency') or ''} budget on {c['param']} cannot count it").replace("the  ", "the ")
            escalate.append(Reason("currency_mismatch", message, f"{rule_name}.cumulative"))
        else:
            total = state.total(action=cap.action, param=c["param"], window=c["per"], now=request.now, currencies=currencies)
            if c["max"]:
                # This request's size against the limit; the running total has its own check below.
                factors.append(RiskFactor("amount_vs_limit", 0.3 * min(1.0, amount / c["max"])))
            if total + amount > c["max"]:
                unit = f" {currencies[0]}" if currencies[0] else ""
                reason = Reason("cumulative_exceeded",
                                f"{c['param']} {total + amount:g}{unit} in {format_duration(c['per'])} > {c['max']:g}{unit}",
                                f"{rule_name}.cumulative")
                if c["over"] == "deny":
                    return _over(reason, cap, version)
                escalate.append(reason)
    novel_resource = bool(request.resource) and not state.seen(field="resource", value=request.resource)
    if novel_resource:
        factors.append(RiskFactor("novel_resource", 0.3))
    for field in cap.escalate_on_novel:
        if field == "resource":
            novel, value = novel_resource, request.resource
        else:
            value = request.params.get(field[7:])
            novel = value is not None and not state.seen(field=field, value=value)
        if novel:
            escalate.append(Reason("novel_value", f"first time this agent uses {field}={value}", f"{rule_name}.escalate_on_novel"))
    if cap.hours and not cap.hours.allows(request.now):
        factors.append(RiskFactor("off_hours", 0.2))
        reason = Reason("outside_hours", f"{request.now.astimezone(cap.hours.tz):%a %H:%M %Z} is outside allowed hours", f"{rule_name}.hours")
        if cap.hours.outside == "deny":
            return _over(reason, cap, version)
        escalate.append(reason)
    for sequence in envelope.sequences:
        if _sequence_completes(sequence, request, state):
            reason = Reason("sequence_complete", f"completes {sequence.name}: {' → '.join(sequence.match)} within {format_duration(sequence.within)}", f"sequences.{sequence.name}")
            if sequence.on_complete == "deny":
                return _over(reason, cap, version)
            escalate.append(reason)

    # 7. Conditions that need a human.
    for rule in cap.escalate_when:
        if _holds(rule, values, lazy, cap, request):
            escalate.append(Reason(rule.code, rule.message, rule.field))

    # 8. Risk: only ever adds scrutiny; high confidence never removes a rule's escalation.
    confidence = _number(request.context.get("confidence"))
    if confidence is None or not 0 <= confidence <= 1:
        factors.append(RiskFactor("confidence_unknown", 0.1))
    elif confidence < 1:
        factors.append(RiskFactor("low_confidence", 0.4 * (1 - confidence)))
    source = request.context.get("input_source")
    if INPUT_SOURCE_WEIGHT.get(source, 0.05):
        factors.append(RiskFactor(f"input_source_{source or 'unknown'}", INPUT_SOURCE_WEIGHT.get(source, 0.05)))
    factors = [f for f in factors if f.weight > 0]
    score = min(1.0, sum(f.weight for f in factors))
    if envelope.risk_threshold is not None and score >= envelope.risk_threshold:
        escalate.append(Reason("risk_threshold", f"risk {score:.2f} >= {envelope.risk_threshold:g}"))

    # 9. Supervised agents need a human for everything.
    if request.agent_mode == "supervised" or envelope.mode == "supervised":
        escalate.append(Reason("supervised", f"agent {request.agent} is supervised: every action needs a human"))

    if escalate:
        decision = Decision("escalate", escalate, score, factors, cap.index, escalation=cap.escalation, envelope_version=version)
        return _flood_guard(envelope, request, state, decision)
    # 10.
    return Decision("allow", [Reason("within_envelope", f"allowed by {cap.name}", rule_name)], score, factors, cap.index, envelope_version=version)
