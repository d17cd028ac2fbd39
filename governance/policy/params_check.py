"""A fast yes for params_schema: the common schemas (an object of typed properties with
required names, minimum/maximum, enum, string lengths, arrays of a type) compiled into one
Python function that answers "certainly valid" or "ask jsonschema".

jsonschema's iter_errors walks the schema through generic keyword dispatch and costs
several microseconds even for a valid request; most requests are valid. The check here
only ever says True when jsonschema (Draft 2020-12, no format checking) would find no
error; whenever it is not certain (a float where an integer is wanted, an enum of mixed
types, a keyword it does not know) it says False and the caller runs jsonschema, which
also writes the error message. So answers never change; only the valid case gets faster.
"""

from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Keywords that never make an instance invalid (annotations).
_ANNOTATIONS = frozenset({"title", "description", "examples", "default", "$comment", "deprecated", "readOnly", "writeOnly"})
_LEAF = frozenset({"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum",
                   "minLength", "maxLength", "items"}) | _ANNOTATIONS
_OBJECT = frozenset({"type", "required", "properties"}) | _ANNOTATIONS


def _is_int(v: Any) -> bool:
    return type(v) is int  # bool is not an integer in JSON Schema; floats are left to jsonschema


def _is_number(v: Any) -> bool:
    return type(v) is int or type(v) is float


def _is_real(bound: Any) -> bool:
    return type(bound) is int or type(bound) is float


_TYPES: dict[str, Check] = {
    "integer": _is_int,
    "number": _is_number,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "array": lambda v: type(v) is list,
    "object": lambda v: type(v) is dict,
    "null": lambda v: v is None,
}


def _leaf(schema: Any) -> Check | None:
    """A check for one property's schema, or None when it uses something not handled here."""
    if schema is True or schema == {}:
        return lambda v: True
    if not isinstance(schema, dict) or not set(schema) <= _LEAF:
        return None
    checks: list[Check] = []
    kind = schema.get("type")
    if kind is not None:
        if not isinstance(kind, str) or kind not in _TYPES:
            return None
        checks.append(_TYPES[kind])
    for key, test in (("minimum", lambda b: lambda v: v >= b), ("maximum", lambda b: lambda v: v <= b),
                      ("exclusiveMinimum", lambda b: lambda v: v > b), ("exclusiveMaximum", lambda b: lambda v: v < b)):
        if key in schema:
            bound = schema[key]
            if not _is_real(bound):
                return None
            # Bounds apply to numbers only: anything else passes them, as in jsonschema.
            checks.append((lambda t: lambda v: not _is_number(v) or t(v))(test(bound)))
    if "enum" in schema:
        members = schema["enum"]
        # Only all-string enums: equality there is plain str equality (no 1 == 1.0 == True).
        if not isinstance(members, list) or not all(type(m) is str for m in members):
            return None
        allowed = frozenset(members)
        checks.append(lambda v: type(v) is str and v in allowed)
    for key, test in (("minLength", lambda n: lambda v: len(v) >= n), ("maxLength", lambda n: lambda v: len(v) <= n)):
        if key in schema:
            n = schema[key]
            if not _is_int(n):
                return None
            checks.append((lambda t: lambda v: type(v) is not str or t(v))(test(n)))
    if "items" in schema:
        item = _leaf(schema["items"])
        if item is None:
            return None
        checks.append(lambda v: type(v) is not list or all(item(x) for x in v))
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(c(v) for c in checks)


def compile_params_check(schema: Any) -> Check | None:
    """check(params) -> True only if jsonschema finds the params valid; None when the schema
    is outside what is handled here (the caller then always asks jsonschema)."""
    if not isinstance(schema, dict) or not set(schema) <= _OBJECT:
        return None
    if schema.get("type", "object") != "object":
        return None
    required = schema.get("required", [])
    properties = schema.get("properties", {})
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return None
    if not isinstance(properties, dict):
        return None
    fields: list[tuple[str, Check]] = []
    for name, sub in properties.items():
        check = _leaf(sub)
        if check is None:
            return None
        fields.append((name, check))
    needed = tuple(dict.fromkeys(required))
    fields_t = tuple(fields)

    def check(params: Any) -> bool:
        if type(params) is not dict:
            # Without "type": "object", a non-object passes required/properties; rare, so
            # jsonschema decides.
            return False
        for name in needed:
            if name not in params:
                return False
        for name, test in fields_t:
            if name in params and not test(params[name]):
                return False
        return True

    return check
