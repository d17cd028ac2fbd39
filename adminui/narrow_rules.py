"""Drafts that narrow an envelope from what people decided: "always allow this" from an
approved escalation, and the rules proposed by suggestions. They only produce draft text
for the editor; nothing here activates anything."""

import io
import math
import re

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from adminui.rule_templates import PROTECTED, TemplateError, _flow, _yaml
from adminui.starter import starter_envelope
from governance.models import Agent
from governance.policy.globs import glob_match

_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Keys of the capability the request matched that the narrow one keeps: its hard limits
# and its stateful checks still apply; only "ask a person" is replaced by the range.
_KEPT = ("params_schema", "deny_when", "hours", "velocity", "cumulative", "approvers", "quorum", "escalation_ttl")


def _cel_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def range_conditions(params: dict) -> list[str]:
    """CEL conditions that are true when a request leaves the approved range: numbers above
    the approved value (or missing), other scalars different from it."""
    out = []
    for name, value in sorted(params.items()):
        if not _PARAM.match(str(name)):
            continue
        if isinstance(value, bool):
            out.append(f"!has(params.{name}) || params.{name} != {str(value).lower()}")
        elif isinstance(value, (int, float)) and math.isfinite(value):
            bound = math.ceil(value) if value >= 0 else value
            # double(): the agent may send 2000 or 2000.0; CEL does not compare int with double.
            out.append(f"!has(params.{name}) || double(params.{name}) > {float(bound)!r}")
        elif isinstance(value, str) and len(value) <= 200:
            out.append(f"!has(params.{name}) || params.{name} != {_cel_string(value)}")
    return out


def _load(agent: Agent):
    source = agent.active_envelope.source if agent.active_envelope_id else starter_envelope(agent.name)
    y = _yaml()
    try:
        doc = y.load(source)
    except YAMLError as exc:
        raise TemplateError(f"the active envelope cannot be read ({exc})") from None
    if not isinstance(doc, dict):
        raise TemplateError("the active envelope is not a mapping")
    if not isinstance(doc.get("capabilities"), list):
        doc["capabilities"] = CommentedSeq()
    return y, doc


def _dump(y, doc) -> str:
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def _plain_copy(value):
    """A deep copy of a YAML value without anchors (flow style kept)."""
    if isinstance(value, dict):
        out = CommentedMap((k, _plain_copy(v)) for k, v in value.items())
        if getattr(value, "fa", None) is not None and value.fa.flow_style():
            out.fa.set_flow_style()
        return out
    if isinstance(value, list):
        out = CommentedSeq(_plain_copy(v) for v in value)
        if getattr(value, "fa", None) is not None and value.fa.flow_style():
            out.fa.set_flow_style()
        return out
    return value


def _matched(doc, index: int | None, action: str = "", resource: str = "") -> dict:
    caps = doc["capabilities"]
    if index is None:
        # Which capability would decide this request today: the first that matches it.
        for i, cap in enumerate(caps):
            if isinstance(cap, dict) and isinstance(cap.get("action"), str):
                resources = cap.get("resources", ["*"])
                if glob_match(action, cap["action"]) and any(glob_match(resource, str(r)) for r in resources):
                    index = i
                    break
    if index is not None and 0 <= index < len(caps) and isinstance(caps[index], dict):
        return caps[index]
    return {}


def allow_draft(*, agent: Agent, action: str, resource: str, params: dict, capability: int | None, name: str) -> str:
    """The active envelope plus, first, a capability for exactly this action and resource
    that allows inside the param range and asks a person outside it."""
    y, doc = _load(agent)
    base = _matched(doc, capability, action, resource)
    cap = CommentedMap(name=name, action=action)
    cap["resources"] = _flow([resource])
    for key in _KEPT:
        if key in base:
            # A copy, not the same node: shared nodes would be written as YAML aliases
            # (&id001 / *id001), which nobody wants to read in a proposed rule.
            cap[key] = _plain_copy(base[key])
    conditions = range_conditions(params)
    if conditions:
        cap["escalate_when"] = CommentedSeq(
            [CommentedMap(when=c, code="outside_approved_range", message="outside the range people approved") for c in conditions]
        )
    cap.yaml_set_start_comment(f"Proposed from approval history; narrow: {action} on {resource} only.", indent=2)
    doc["capabilities"].insert(_after_protection(doc["capabilities"]), cap)
    return _dump(y, doc)


def _after_protection(caps) -> int:
    """Where a narrow rule goes: the first capability that matches a request decides it, so
    before every broader one, but after the protected-resources rules, which must keep
    winning (a resource protected later must not be allowed by an old approval)."""
    index = 0
    while index < len(caps) and isinstance(caps[index], dict) and caps[index].get("name") == PROTECTED:
        index += 1
    return index


def deny_draft(*, agent: Agent, action: str, resource: str, name: str) -> str:
    """The active envelope plus, first, a capability that denies this action on this resource."""
    y, doc = _load(agent)
    cap = CommentedMap(name=name, action=action)
    cap["resources"] = _flow([resource])
    cap["deny_when"] = CommentedSeq(
        [CommentedMap(when="true", code="always_denied", message="people denied every such request")]
    )
    doc["capabilities"].insert(_after_protection(doc["capabilities"]), cap)
    return _dump(y, doc)
