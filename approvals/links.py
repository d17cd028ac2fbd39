"""Absolute links into Airlock for messages sent outside it (email, Slack, other channels).

One place builds them, so every channel points at the same page: the escalation's own page,
`/escalations/<request id>/` (served by the web queue).
"""

from django.conf import settings


def absolute_url(path: str) -> str:
    """AIRLOCK_BASE_URL (where people reach Airlock) + path."""
    return settings.AIRLOCK_BASE_URL.rstrip("/") + "/" + path.lstrip("/")


def escalation_url(request_id) -> str:
    """The escalation's page: its facts, its history, and the approve / deny form."""
    return absolute_url(f"/escalations/{request_id}/")
