"""Validate an envelope document and compile it once: CEL programs, JSON Schemas, globs,
hours windows. Errors name the field they are about."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from governance.policy.cel_bounds import cel_compile
from governance.policy.cel_fast import FAST_VARIABLES, compile_fast
from governance.policy.durations import format_duration, parse_duration
from governance.policy.globs import glob_matcher, parse_glob
from governance.policy.hours import Hours, parse_hours
from governance.policy.limits import MAX_ESCALATION_TTL, MAX_WINDOW
from governance.policy.params_check import compile_params_check
from governance.policy.source import check_shape
from governance.policy.types import EscalationSpec

CEL_VARIABLES = frozenset({"action", "resource", "params", "context", "now", "agent", "facts"})
OUTCOMES = ("escalate", "deny")

_duration = {"type": ["string", "integer"]}
_outcome = {"enum": list(OUTCOMES)}
_rule = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "required": ["when"],
            "additionalProperties": False,
            "properties": {
                "when": {"type": "string", "minLength": 1},
                "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                "message": {"type": "string"},
            },
        },
    ]
}
_groups = {"type": "array", "items": {"type": "string", "minLength": 1}}
# Approver safety (docs/inbox.md), on the envelope and overridable per capability: a comment
# is required at or above one risk; at or above the other, no vote through a channel (Slack,
# email), only on the escalation's page or the API; how far approvers may push a deadline.
_approver_rules = {
    "comment_required_at_risk": {"type": "number", "minimum": 0, "maximum": 1},
    "web_only_at_risk": {"type": "number", "minimum": 0, "maximum": 1},
    "max_extension": _duration,
}
# Escalation tiers (docs/escalations.md, "Routing"): later groups join a pending escalation.
_tiers = {
    "type": "array",
    "maxItems": 10,
    "items": {
        "type": "object",
        "required": ["after", "approvers"],
        "additionalProperties": False,
        "properties": {"after": _duration, "approvers": {**_groups, "minItems": 1}},
    },
}

ENVELOPE_SCHEMA = {
    "type": "object",
    "required": ["agent", "capabilities"],
    "additionalProperties": False,
    "properties": {
        "agent": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "mode": {"enum": ["enforce", "supervised"]},
        "default": {"enum": ["deny", "escalate"]},
        "approvers": _groups,
        "tiers": _tiers,
        "max_pending": {"type": "integer", "minimum": 1, "maximum": 100000},
        "quorum": {"type": "integer", "minimum": 1, "maximum": 20},
        "escalation_ttl": _duration,
        "risk_threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "slack_channel": {"type": "string"},
        **_approver_rules,
        "breaker": {
            "type": "object",
            "required": ["violations", "window"],
            "additionalProperties": False,
            "properties": {"violations": {"type": "integer", "minimum": 1}, "window": _duration},
        },
        "drift": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "min_requests": {"type": "integer", "minimum": 2, "maximum": 1000000},
                "p_value": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
                "on_shift": {"enum": ["flag", "supervise"]},
            },
        },
        "capabilities": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["action"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "action": {"type": "string", "minLength": 1},
                    "resources": {"type": "array", "items": {"type": "string"}},
                    "params_schema": {"type": "object"},
                    "deny_when": {"type": "array", "items": _rule},
                    "escalate_when": {"type": "array", "items": _rule},
                    "escalate_on_novel": {
                        "type": "array",
                        "items": {"type": "string", "pattern": r"^(resource|params\.[A-Za-z0-9_]+)$"},
                    },
                    "hours": {
                        "type": "object",
                        "required": ["allow"],
                        "additionalProperties": False,
                        "properties": {
                            "allow": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                            "tz": {"type": "string"},
                            "outside": _outcome,
                        },
                    },
                    "velocity": {
                        "type": "object",
                        "required": ["max", "per"],
                        "additionalProperties": False,
                        "properties": {"max": {"type": "integer", "minimum": 0}, "per": _duration, "over": _outcome},
                    },
                    "cumulative": {
                        "type": "object",
                        "required": ["param", "max", "per"],
                        "additionalProperties": False,
                        "properties": {
                            "param": {"type": "string", "pattern": "^[A-Za-z0-9_]+$"},
                            "max": {"type": "number", "minimum": 0},
                            "per": _duration,
                            "over": _outcome,
                            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                        },
                    },
                    "quorum": {"type": "integer", "minimum": 1, "maximum": 20},
                    "approvers": _groups,
                    "tiers": _tiers,
                    "escalation_ttl": _duration,
                    **_approver_rules,
                },
            },
        },
        "sequences": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "within", "match"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "within": _duration,
                    "match": {"type": "array", "minItems": 2, "items": {"type": "string", "minLength": 1}},
                    "key": {"type": "string", "pattern": r"^(resource|context\.[A-Za-z0-9_]+)$"},
                    "on_complete": _outcome,
                },
            },
        },
    },
}
_envelope_validator = Draft202012Validator(ENVELOPE_SCHEMA)


class EnvelopeError(ValueError):
    """An envelope that cannot be applied. `field` says where, e.g. capabilities[0].deny_when[1]."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(envelope)"


@dataclass(frozen=True)
class Rule:
    source: str
    program: Any
    code: str
    message: str
    field: str
    # CEL's answer computed in Python when certain, else UNKNOWN (cel_fast.py); None: always CEL.
    fast: Callable[[dict], Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Capability:
    index: int
    name: str
    action: str
    resources: tuple[str, ...]
    params_validator: Draft202012Validator | None
    deny_when: tuple[Rule, ...]
    escalate_when: tuple[Rule, ...]
    escalate_on_novel: tuple[str, ...]
    hours: Hours | None
    velocity: dict | None  # {max, per (s), over}
    cumulative: dict | None  # {param, max, per (s), over, currency (None: per currency)}
    quorum: int
    approvers: tuple[str, ...]
    ttl_seconds: int
    tiers: tuple[tuple[int, tuple[str, ...]], ...] = ()

    # Derived once from the fields above (see __post_init__): the decide path calls matches()
    # for every capability until one fits, and CEL converts each variable it is handed.
    _action_match: Callable[[str], Any] = field(init=False, repr=False, compare=False)
    _resource_matches: tuple[Callable[[str], Any], ...] = field(init=False, repr=False, compare=False)
    # "*" among the resources: every resource matches, nothing to test.
    any_resource: bool = field(init=False, repr=False, compare=False)
    cel_variables: frozenset[str] = field(init=False, repr=False, compare=False)
    # params_check(params) is True only when params_validator finds no error (params_check.py);
    # None: always ask params_validator.
    params_check: Callable[[Any], bool] | None = field(init=False, repr=False, compare=False)
    rule_name: str = field(init=False, repr=False, compare=False)  # "capabilities[i]", for reasons
    # The CEL variables to hand the rules' fast functions, or None when no rule has one or a
    # rule reads a variable they do not model (then every rule runs in CEL).
    fast_variables: tuple[str, ...] | None = field(init=False, repr=False, compare=False)
    escalation: EscalationSpec = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        set_ = partial(object.__setattr__, self)
        set_("_action_match", glob_matcher(self.action))
        set_("_resource_matches", tuple(glob_matcher(r) for r in self.resources))
        set_("any_resource", "*" in self.resources)
        used = set()
        for rule in (*self.deny_when, *self.escalate_when):
            used.update(rule.program.variables())
        set_("cel_variables", frozenset(used & CEL_VARIABLES))
        rules = (*self.deny_when, *self.escalate_when)
        fast = used <= FAST_VARIABLES and any(r.fast is not None for r in rules)
        set_("fast_variables", tuple(sorted(self.cel_variables)) if fast else None)
        validator = self.params_validator
        set_("params_check", compile_params_check(validator.schema) if validator is not None else None)
        set_("rule_name", f"capabilities[{self.index}]")
        set_("escalation", EscalationSpec(self.quorum, self.approvers, self.ttl_seconds, self.tiers))

    def matches(self, action: str, resource: str) -> bool:
        """fnmatchcase(action, self.action) and any resource pattern fnmatchcase-matches."""
        return bool(self._action_match(action)) and self.matches_resource(resource)

    def matches_resource(self, resource: str) -> bool:
        """Any resource pattern fnmatchcase-matches (the action is known to match)."""
        return self.any_resource or any(m(resource) for m in self._resource_matches)


@dataclass(frozen=True)
class Sequence:
    name: str
    within: int
    match: tuple[str, ...]
    key: str
    on_complete: str


@dataclass(frozen=True)
class CompiledEnvelope:
    agent: str
    version: int | None
    mode: str
    default: str
    approvers: tuple[str, ...]
    quorum: int
    ttl_seconds: int
    risk_threshold: float | None
    breaker: dict | None  # {violations, window (s)}
    capabilities: tuple[Capability, ...]
    sequences: tuple[Sequence, ...]
    document: dict
    tiers: tuple[tuple[int, tuple[str, ...]], ...] = ()
    # While the agent has this many escalations pending, a request that would escalate is
    # denied (review_flood, a violation): an agent cannot drown its approvers.
    max_pending: int | None = None
    drift: dict | None = None  # {min_requests, p_value, on_shift}: governance/drift.py

    # The capabilities whose action pattern matches an action, in envelope order, so a
    # request tests only those (derived, see __post_init__ and candidates()).
    _exact: dict = field(init=False, repr=False, compare=False)
    _globbed: tuple = field(init=False, repr=False, compare=False)
    _by_action: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        exact: dict[str, list[Capability]] = {}
        globbed = []
        for cap in self.capabilities:
            if parse_glob(cap.action).literal:
                exact.setdefault(cap.action, []).append(cap)
            else:
                globbed.append(cap)
        object.__setattr__(self, "_exact", {a: tuple(caps) for a, caps in exact.items()})
        object.__setattr__(self, "_globbed", tuple(globbed))
        object.__setattr__(self, "_by_action", {})

    def candidates(self, action: str) -> tuple[Capability, ...]:
        """The capabilities whose action pattern matches `action`, in envelope order (first
        match wins among them): the exact ones from a dict, the globbed ones tested."""
        found = self._by_action.get(action)
        if found is None:
            found = self._exact.get(action, ())
            globbed = [c for c in self._globbed if c._action_match(action)]
            if globbed:
                found = tuple(sorted((*found, *globbed), key=lambda c: c.index))
            # Actions come from agents: remember a bounded number of them.
            if len(self._by_action) < _CANDIDATE_CACHE:
                self._by_action[action] = found
        return found

    def capability_for(self, action: str, resource: str) -> Capability | None:
        """The first capability (envelope order) matching both action and resource: SPEC §5 step 4."""
        for cap in self.candidates(action):
            if cap.any_resource or any(m(resource) for m in cap._resource_matches):
                return cap
        return None


# Per envelope; up to 512 compiled envelopes are cached per process (governance.services),
# and an agent chooses its action strings, so the bound keeps the worst case small.
_CANDIDATE_CACHE = 256


def _compile_rule(item: Any, field: str, kind: str) -> Rule:
    source = item if isinstance(item, str) else item["when"]
    try:
        program, variables = cel_compile(source)
    except ValueError as exc:
        raise EnvelopeError(field, str(exc)) from None
    unknown = set(variables) - CEL_VARIABLES
    if unknown:
        names = ", ".join(sorted(unknown))
        raise EnvelopeError(field, f"unknown variable(s) {names}; use {', '.join(sorted(CEL_VARIABLES))}")
    code = item.get("code") if isinstance(item, dict) else None
    message = item.get("message") if isinstance(item, dict) else None
    return Rule(source, program, code or kind, message or f"{kind}: {source}", field, compile_fast(source))


def _seconds(value: Any, field: str, maximum: int = MAX_WINDOW) -> int:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise EnvelopeError(field, str(exc)) from None
    if seconds > maximum:
        # Beyond the cap a deadline or window start can leave the calendar (datetime
        # overflow), and every decision that uses it would fail.
        raise EnvelopeError(field, f"{value!r} is longer than the limit of {format_duration(maximum)}")
    return seconds


def _tiers_compile(items: list, field: str, ttl: int) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """[{after, approvers}] -> ((after_seconds, groups), ...), earliest first. A tier at or past
    the deadline could never open, so it is refused rather than silently ignored."""
    tiers = []
    for i, item in enumerate(items):
        after = _seconds(item["after"], f"{field}[{i}].after", MAX_ESCALATION_TTL)
        if after >= ttl:
            raise EnvelopeError(
                f"{field}[{i}].after",
                f"{format_duration(after)} is not before the escalation deadline ({format_duration(ttl)}); "
                "tiers never move the deadline",
            )
        tiers.append((after, tuple(dict.fromkeys(item["approvers"]))))
    return tuple(sorted(tiers, key=lambda t: t[0]))


def compile_envelope(document: Any, *, version: int | None = None, default_ttl: int = 900) -> CompiledEnvelope:
    """Validate and compile. Raises EnvelopeError naming the first bad field."""
    if not isinstance(document, dict):
        raise EnvelopeError("", "an envelope is a mapping (YAML object) with agent and capabilities")
    # Documents that did not come through load_yaml (stored ones, chaos scenarios, tests)
    # get the same bounds before anything walks them.
    too_big = check_shape(document)
    if too_big:
        raise EnvelopeError("", too_big)
    errors = sorted(_envelope_validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        raise EnvelopeError(_path(error.absolute_path), error.message)

    approvers = tuple(document.get("approvers", ()))
    quorum = document.get("quorum", 1)
    ttl = _seconds(document["escalation_ttl"], "escalation_ttl", MAX_ESCALATION_TTL) if "escalation_ttl" in document else default_ttl
    if "max_extension" in document:
        _seconds(document["max_extension"], "max_extension", MAX_ESCALATION_TTL)
    breaker = document.get("breaker")
    if breaker:
        breaker = {"violations": breaker["violations"], "window": _seconds(breaker["window"], "breaker.window")}

    capabilities = []
    for i, cap in enumerate(document["capabilities"]):
        where = f"capabilities[{i}]"
        validator = None
        if "params_schema" in cap:
            try:
                Draft202012Validator.check_schema(cap["params_schema"])
            except SchemaError as exc:
                raise EnvelopeError(f"{where}.params_schema", f"not a valid JSON Schema: {exc.message}") from None
            validator = Draft202012Validator(cap["params_schema"])
        if "max_extension" in cap:
            _seconds(cap["max_extension"], f"{where}.max_extension", MAX_ESCALATION_TTL)
        hours = None
        if "hours" in cap:
            try:
                hours = parse_hours(cap["hours"])
            except ValueError as exc:
                raise EnvelopeError(f"{where}.hours", str(exc)) from None
        velocity = cap.get("velocity")
        if velocity:
            velocity = {
                "max": velocity["max"],
                "per": _seconds(velocity["per"], f"{where}.velocity.per"),
                "over": velocity.get("over", "escalate"),
            }
        cumulative = cap.get("cumulative")
        if cumulative:
            cumulative = {
                "param": cumulative["param"],
                "max": cumulative["max"],
                "per": _seconds(cumulative["per"], f"{where}.cumulative.per"),
                "over": cumulative.get("over", "escalate"),
                "currency": cumulative.get("currency"),
            }
        cap_ttl = (_seconds(cap["escalation_ttl"], f"{where}.escalation_ttl", MAX_ESCALATION_TTL)
                   if "escalation_ttl" in cap else ttl)
        capabilities.append(
            Capability(
                index=i,
                name=cap.get("name") or cap["action"],
                action=cap["action"],
                resources=tuple(cap.get("resources", ["*"])),
                params_validator=validator,
                deny_when=tuple(
                    _compile_rule(r, f"{where}.deny_when[{j}]", "deny_when") for j, r in enumerate(cap.get("deny_when", []))
                ),
                escalate_when=tuple(
                    _compile_rule(r, f"{where}.escalate_when[{j}]", "escalate_when")
                    for j, r in enumerate(cap.get("escalate_when", []))
                ),
                escalate_on_novel=tuple(cap.get("escalate_on_novel", [])),
                hours=hours,
                velocity=velocity,
                cumulative=cumulative,
                quorum=cap.get("quorum", quorum),
                approvers=tuple(cap.get("approvers", approvers)),
                ttl_seconds=cap_ttl,
                tiers=_tiers_compile(cap.get("tiers", document.get("tiers", [])),
                                     f"{where}.tiers" if "tiers" in cap else "tiers", cap_ttl),
            )
        )

    sequences = tuple(
        Sequence(
            name=s["name"],
            within=_seconds(s["within"], f"sequences[{i}].within"),
            match=tuple(s["match"]),
            key=s.get("key", "resource"),
            on_complete=s.get("on_complete", "escalate"),
        )
        for i, s in enumerate(document.get("sequences", []))
    )
    names = [s.name for s in sequences]
    if len(set(names)) != len(names):
        raise EnvelopeError("sequences", "sequence names must be unique")
    if not re.match(r"^[a-z0-9][a-z0-9._-]{0,99}$", document["agent"]):
        raise EnvelopeError("agent", "agent names are lowercase letters, digits, '.', '_' and '-'")

    return CompiledEnvelope(
        agent=document["agent"],
        version=version,
        mode=document.get("mode", "enforce"),
        default=document.get("default", "deny"),
        approvers=approvers,
        quorum=quorum,
        ttl_seconds=ttl,
        risk_threshold=document.get("risk_threshold"),
        breaker=breaker,
        capabilities=tuple(capabilities),
        sequences=sequences,
        document=document,
        tiers=_tiers_compile(document.get("tiers", []), "tiers", ttl),
        max_pending=document.get("max_pending"),
        drift=_drift(document.get("drift")),
    )


def _drift(drift: dict | None) -> dict | None:
    if drift is None:
        return None
    return {
        "min_requests": drift.get("min_requests", 50),
        "p_value": drift.get("p_value", 0.01),
        "on_shift": drift.get("on_shift", "flag"),
    }
