"""Say what is wrong with a draft envelope in plain words: where (line, column, field), what,
and an example of right.

The verdict itself always comes from the server's compiler (adminui.drafts.draft_check, which
runs governance.services.envelope_validate exactly as envelope_apply does); this module only
re-words that verdict and finds the spot it is about. It never accepts what the compiler
refused.
"""

import difflib
import logging
import re
from dataclasses import asdict, dataclass

import yaml
from jsonschema import Draft202012Validator

from adminui.drafts import DraftCheck, field_line
from governance.policy.envelope import ENVELOPE_SCHEMA
from governance.policy.source import BoundedLoader, SourceError

logger = logging.getLogger(__name__)
_validator = Draft202012Validator(ENVELOPE_SCHEMA)
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_AT = re.compile(r"at line (\d+), column (\d+)")
_CEL_POS = re.compile(r"(?:line |<input>:)(\d+):(\d+)")

# What each field holds, with a line of YAML that is right, keyed by the last part of the path.
EXAMPLES = {
    "agent": "agent: procurement-bot",
    "mode": "mode: enforce          # or supervised: every allow needs a person",
    "default": "default: deny          # or escalate",
    "approvers": "approvers: [finance]",
    "quorum": "quorum: 2",
    "escalation_ttl": "escalation_ttl: 15m",
    "risk_threshold": "risk_threshold: 0.8",
    "breaker": "breaker: {violations: 5, window: 10m}",
    "capabilities": "capabilities:\n  - action: purchase_order.create\n    resources: [\"vendor:*\"]",
    "action": "- action: purchase_order.create",
    "resources": 'resources: ["vendor:staples", "vendor:office-*"]',
    "params_schema": "params_schema: {type: object, required: [amount], properties: {amount: {type: number}}}",
    "deny_when": 'deny_when: ["params.amount > 100000"]',
    "escalate_when": 'escalate_when: ["params.amount > 10000"]',
    "escalate_on_novel": "escalate_on_novel: [resource]",
    "hours": 'hours: {allow: "Mon-Fri 07:00-19:00", tz: Europe/London, outside: escalate}',
    "velocity": "velocity: {max: 100, per: 10m, over: escalate}",
    "cumulative": "cumulative: {param: amount, max: 50000, per: 24h, over: escalate}",
    "sequences": 'sequences:\n  - name: exposure-chain\n    within: 30m\n    match: ["security_group.*", "service.deploy"]',
    "within": "within: 30m",
    "match": 'match: ["security_group.*", "service.deploy"]',
    "key": "key: resource          # or context.session",
    "on_complete": "on_complete: escalate",
    "over": "over: escalate         # or deny",
    "outside": "outside: escalate      # or deny",
    "per": "per: 10m               # s, m, h or d",
    "window": "window: 10m",
    "max": "max: 100",
    "param": "param: amount",
    "allow": 'allow: "Mon-Fri 07:00-19:00"',
    "tz": "tz: Europe/London",
    "name": "name: small-orders",
}
CEL_EXAMPLE = 'params.amount > 10000 && resource.startsWith("vendor:")'
_TYPE_WORDS = {
    "string": "text", "integer": "a whole number", "number": "a number", "array": "a list ([a, b])",
    "object": "a mapping (key: value lines)", "boolean": "true or false",
}


@dataclass(frozen=True)
class Problem:
    """One error of a draft, ready for the editor: where it is and what to do about it."""

    message: str
    field: str = ""
    line: int | None = None
    column: int | None = None
    example: str = ""
    detail: str = ""  # the compiler's own words, kept for people who want them

    def as_json(self) -> dict:
        return asdict(self)


def explain(source: str, check: DraftCheck) -> Problem | None:
    """The plain-language account of a failed check, or None when the draft is valid."""
    if check.ok:
        return None
    try:
        return _explain(source, check)
    except Exception:
        # Re-wording must never hide the verdict: fall back to the compiler's own words.
        logger.exception("could not word an envelope error", extra={"field": check.field})
        return Problem(message=check.error, field=check.field, line=check.line, detail=check.error)


def _explain(source: str, check: DraftCheck) -> Problem:
    detail = check.error
    if "not valid YAML" in detail:
        return _yaml_problem(source, detail)
    if check.field and (".deny_when[" in check.field or ".escalate_when[" in check.field):
        return _cel_problem(source, check)
    document = _load(source)
    if document is not None and check.field:
        schema_problem = _schema_problem(source, document, detail)
        if schema_problem is not None:
            return schema_problem
    leaf = _leaf(check.field)
    line = check.line
    column = _column_of(source, line, leaf) if line else None
    message = detail.partition(": ")[2] if check.field and detail.startswith(check.field) else detail
    return Problem(
        message=f"{_where(check.field)}{message}", field=check.field, line=line, column=column,
        example=EXAMPLES.get(leaf, ""), detail=detail,
    )


def _load(source: str):
    try:
        return yaml.load(source, Loader=BoundedLoader)  # noqa: S506 - BoundedLoader is a SafeLoader
    except (yaml.YAMLError, SourceError):
        return None


def _leaf(field: str) -> str:
    names = [name for name, _ in _PART.findall(field) if name]
    return names[-1] if names else ""


def _where(field: str) -> str:
    return f"In {field}: " if field else ""


def _column_of(source: str, line: int, word: str) -> int | None:
    lines = source.splitlines()
    if not (1 <= line <= len(lines)):
        return None
    text = lines[line - 1]
    found = text.find(word) if word else -1
    return found + 1 if found >= 0 else len(text) - len(text.lstrip()) + 1


def _yaml_problem(source: str, detail: str) -> Problem:
    found = _AT.search(detail)
    line, column = (int(found.group(1)), int(found.group(2))) if found else (None, None)
    problem = detail.rpartition(": ")[2]
    hint = "Check the indentation and the brackets on this line or the one above it."
    if "mapping values are not allowed" in problem:
        hint = "A value that contains ': ' must be quoted, e.g. message: \"over budget: ask finance\"."
    elif "expected ',' or ']'" in problem or "flow sequence" in problem:
        hint = "A list in brackets must be closed on the same item: [a, b]. Quote values that contain [ or ]."
    elif "found character '\\t'" in problem or "tab" in problem:
        hint = "YAML indents with spaces only; replace the tab with two spaces."
    elif "could not find expected ':'" in problem:
        hint = "Each line of a mapping is 'key: value'; a colon may be missing."
    opened = _context_mark(source)
    if opened is not None and line is not None and opened[0] < line and ("flow" in problem or "expected ','" in problem):
        # The parser notices an unclosed bracket where the next item starts; the mistake
        # is where the bracket was opened.
        hint = f"The bracket opened on line {opened[0]} is not closed (noticed on line {line}). {hint}"
        line, column = opened
    return Problem(
        message=f"The YAML cannot be read here ({problem}). {hint}", line=line, column=column,
        example="capabilities:\n  - action: purchase_order.create\n    resources: [\"vendor:*\"]",
        detail=detail,
    )


def _context_mark(source: str) -> tuple[int, int] | None:
    """(line, column) of what the parser was inside of when it failed, e.g. an open '['."""
    loader = BoundedLoader(source)
    try:
        loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.context_mark
        return (mark.line + 1, mark.column + 1) if mark is not None else None
    except (yaml.YAMLError, SourceError, RecursionError):
        return None
    finally:
        loader.dispose()
    return None


def _cel_problem(source: str, check: DraftCheck) -> Problem:
    detail = check.error
    expression = ""
    document = _load(source)
    node = document
    for name, index in _PART.findall(check.field):
        try:
            node = node[name] if name else node[int(index)]
        except (KeyError, IndexError, TypeError):
            node = None
            break
    if isinstance(node, dict):
        node = node.get("when")
    if isinstance(node, str):
        expression = node
    line = check.line
    column = _column_of(source, line, expression) if line and expression else None
    position = _CEL_POS.search(detail)
    if position and column is not None:
        column += int(position.group(2)) - 1
    if "unknown variable" in detail:
        what = detail.partition("unknown variable(s) ")[2]
        message = f"The condition uses {what.split(';')[0]}, which Airlock does not know. Conditions can read action, resource, params, context, now and agent."
    elif "nests too deeply" in detail or "characters; the limit" in detail:
        message = detail.partition(": ")[2]
    else:
        message = (
            f"The condition `{expression}` is not a valid CEL expression"
            f"{' near character ' + position.group(2) if position else ''}. "
            "Compare with: a field, an operator (> < >= <= == != in), a value; join several with && or ||; "
            "quote text with double quotes."
        )
    return Problem(
        message=f"In {check.field}: {message}", field=check.field, line=line, column=column,
        example=f"- '{CEL_EXAMPLE}'", detail=detail,
    )


def _schema_problem(source: str, document, detail: str) -> Problem | None:
    """Re-run the schema the compiler ran, to know which rule failed (the compiler only
    passes on its message), and point at the offending key rather than its parent."""
    # At one spot, a misspelt key beats the "required" error it causes: 'actoin' is the
    # mistake, the missing 'action' only its consequence.
    errors = sorted(
        _validator.iter_errors(document),
        key=lambda e: (list(e.absolute_path), e.validator != "additionalProperties"),
    )
    if not errors:
        return None
    error = errors[0]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    leaf = next((p for p in reversed(list(error.absolute_path)) if isinstance(p, str)), "")
    line = field_line(source, path) if path else 1
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted((error.schema.get("properties") or {}).keys())
        extra = [key for key in (error.instance or {}) if key not in allowed]
        wrong = extra[0] if extra else ""
        line = _key_line(source, path, wrong) or line
        close = difflib.get_close_matches(wrong, allowed, n=1, cutoff=0.6)
        where = f" of {path}" if path else " of an envelope"
        suggestion = f" Did you mean '{close[0]}'?" if close else ""
        return Problem(
            message=f"'{wrong}' is not a field{where}.{suggestion} Allowed: {', '.join(allowed)}.",
            field=f"{path}.{wrong}" if path else wrong, line=line, column=_column_of(source, line, wrong),
            example=EXAMPLES.get(close[0] if close else "", ""), detail=detail,
        )
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return Problem(
            message=f"{path or 'The envelope'} needs '{missing}'.", field=f"{path}.{missing}" if path else missing,
            line=line, column=_column_of(source, line or 1, ""), example=EXAMPLES.get(missing, ""), detail=detail,
        )
    if kind == "enum":
        choices = " or ".join(str(c) for c in error.validator_value)
        return Problem(
            message=f"{path} is {error.instance!r}; it must be {choices}.", field=path, line=line,
            column=_column_of(source, line, leaf), example=EXAMPLES.get(leaf, ""), detail=detail,
        )
    if kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        words = " or ".join(_TYPE_WORDS.get(w, w) for w in wanted)
        return Problem(
            message=f"{path} must be {words}, not {error.instance!r}.", field=path, line=line,
            column=_column_of(source, line, leaf), example=EXAMPLES.get(leaf, ""), detail=detail,
        )
    if kind in ("minimum", "maximum", "minLength", "minItems", "pattern", "oneOf"):
        return Problem(
            message=f"{path}: {error.message}.", field=path, line=line,
            column=_column_of(source, line, leaf), example=EXAMPLES.get(leaf, ""), detail=detail,
        )
    return None


def _key_line(source: str, path: str, key: str) -> int | None:
    """The line of `key` inside the mapping at `path` ("" = the top level)."""
    try:
        node = yaml.compose(source, Loader=BoundedLoader)
    except (yaml.YAMLError, SourceError):
        return None
    for name, index in _PART.findall(path):
        if isinstance(node, yaml.MappingNode) and name:
            node = next((v for k, v in node.value if getattr(k, "value", None) == name), None)
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
        else:
            return None
    if isinstance(node, yaml.MappingNode):
        for k, _v in node.value:
            if getattr(k, "value", None) == key:
                return k.start_mark.line + 1
    return None
