"""What the client raises. Every one of them means "do not act"."""

from __future__ import annotations

from typing import Any


class Denied(Exception):
    """Do not act. The base of everything the client raises for a refusal or a failure.

    `status` is Airlock's status (`denied`, `rejected`, `expired`, `pending`) or the client's
    own (`unavailable`, `error`); `reasons` is a list of `{"code", "message", ...}` dicts;
    `request_id` is the Airlock request id when one exists.
    """

    default_status = "denied"

    def __init__(self, message: str = "", *, status: str | None = None,
                 reasons: list[dict[str, Any]] | None = None, request_id: str | None = None):
        self.status = status or self.default_status
        self.reasons = list(reasons or [])
        self.request_id = request_id
        super().__init__(message or self._describe())

    @property
    def codes(self) -> list[str]:
        return [str(reason.get("code", "")) for reason in self.reasons if isinstance(reason, dict)]

    def _describe(self) -> str:
        codes = ", ".join(code for code in self.codes if code) or "no reason given"
        where = f" (request {self.request_id})" if self.request_id else ""
        return f"Airlock: {self.status}: {codes}{where}"


class Rejected(Denied):
    """A person said no."""

    default_status = "rejected"


class Expired(Denied):
    """Nobody answered before the deadline."""

    default_status = "expired"


class Unavailable(Denied):
    """Airlock could not be asked or gave no usable answer (unreachable, 5xx, timeout,
    malformed answer, not configured). Fails closed like any other refusal."""

    default_status = "unavailable"
