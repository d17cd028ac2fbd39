"""JSON request bodies parsed strictly: nothing a downstream parser could read differently.

- A duplicate key is an error. Python keeps the last value, other parsers the first: with
  `{"action": "evil.do", "action": "thing.read"}` a tool downstream may act on the action
  Airlock never decided.
- Nesting deeper than AIRLOCK_MAX_JSON_DEPTH is an error, found by a linear scan before the
  parser runs (Python's json recurses, and ~1,000 levels raise RecursionError: a 500).
- NaN and Infinity are not JSON.
- Strings (keys included) may not hold U+0000 or an unpaired surrogate: PostgreSQL cannot
  store either (a DataError, found by the schemathesis suite, made decide answer 503).
"""

import json
import re

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class DuplicateKey(ValueError):
    pass


def _object(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise DuplicateKey(f"duplicate key {key!r}")
            seen.add(key)
    return obj


def _constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def json_too_deep(text: str, limit: int) -> bool:
    """True when arrays/objects nest more than `limit` deep (brackets in strings ignored)."""
    if text.count("[") + text.count("{") <= limit:
        return False  # cannot nest deeper than its bracket count: the common case, no scan
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


# Only an escape can put these in a parsed string (raw control characters are refused).
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _unstorable(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def json_strict_loads(text: str) -> object:
    """Parse JSON text; ValueError for duplicate keys, excessive depth, NaN/Infinity, and
    strings with U+0000 or unpaired surrogates."""
    limit = settings.AIRLOCK_MAX_JSON_DEPTH
    if json_too_deep(text, limit):
        raise ValueError(f"nested deeper than {limit} levels")
    data = json.loads(text, object_pairs_hook=_object, parse_constant=_constant)
    # The depth check above bounds this walk; it runs only when an escape could be one.
    if _UNSTORABLE_ESCAPE.search(text) and _unstorable(data):
        raise ValueError("strings may not contain U+0000 or unpaired surrogates")
    return data


class StrictJSONParser(parsers.JSONParser):
    """DRF's JSON parser with the rules above; every failure is a 400 malformed_json."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            return json_strict_loads(text)
        except RecursionError:  # belt and braces: the depth scan should make this unreachable
            raise ParseError("JSON parse error - nested too deeply") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
