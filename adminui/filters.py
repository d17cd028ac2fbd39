"""Template filters of the admin pages (registered as the `adminui` tag library)."""

import json
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

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
        return f"{minutes}m {seconds:02d}s" if seconds else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if minutes else f"{hours}h"


@register.filter
def ago(when: datetime | None) -> str:
    """'just now', '5 minutes ago', '2 days, 3 hours ago'."""
    if when is None:
        return "never"
    if timezone.now() - when < timedelta(minutes=1):
        return "just now"
    return f"{timesince(when)} ago"


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
def kind_class(kind: str) -> str:
    """CSS classes for an audit kind: its family, and for outcomes the outcome's tone."""
    family, _, rest = str(kind).partition(".")
    classes = f"kind-{family}"
    if family in ("decision", "escalation") and rest in DECISION_TONE:
        classes += f" t-{DECISION_TONE[rest]}"
    return classes


@register.filter
def wait(value) -> str:
    """A wait or a total of waits for people: '40 s', '3 min', '2 h 05 min'."""
    seconds = int(value.total_seconds()) if value is not None else 0
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min"
