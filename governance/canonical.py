"""Canonical JSON and the action digest (plain Python)."""

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def action_digest(action: str, resource: str, params: dict) -> str:
    """SHA-256 of exactly what was decided; /verify compares against it."""
    text = canonical_json({"action": action, "resource": resource, "params": params})
    return hashlib.sha256(text.encode()).hexdigest()
