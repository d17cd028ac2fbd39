"""Template filters of the admin pages (registered as the `adminui` tag library)."""

import json
from typing import Any

from django import template

register = template.Library()

DECISION_TONE = {
    "allow": "ok", "allowed": "ok", "approved": "ok",
    "escalate": "warn", "pending": "warn",
    "deny": "bad", "denied": "bad", "rejected": "bad", "expired": "muted",
}


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def tone(value: str) -> str:
    """CSS modifier for a decision or status badge."""
    return DECISION_TONE.get(str(value), "muted")


@register.filter
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@register.filter
def reason_codes(reasons: list | None) -> str:
    return ", ".join(r.get("code", "") for r in reasons or [] if isinstance(r, dict))


@register.filter
def payload_summary(payload: dict | None) -> str:
    """One line of the most telling payload fields for the audit table."""
    if not isinstance(payload, dict):
        return ""
    parts = []
    for key in ("action", "resource", "version", "status", "to", "reason", "note", "via", "comment"):
        value = payload.get(key)
        if value not in (None, "", [], {}):
            parts.append(f"{key}={value}")
    if not parts:
        parts = [f"{k}={v}" for k, v in list(payload.items())[:3] if not isinstance(v, (dict, list))]
    text = " · ".join(parts)
    return text if len(text) <= 140 else text[:139] + "…"


@register.filter
def family(kind: str) -> str:
    """decision.allow -> decision (for colouring kinds by family)."""
    return str(kind).split(".", 1)[0]
