"""The id of the HTTP request being served, for logs and the audit trail.

A context variable: set by ops.middleware.RequestIdMiddleware for each request, copied into
the thread a sync view runs in (asgiref copies the context), unset outside a request.
"""

import re
import uuid
from contextvars import ContextVar

# An incoming X-Request-ID is kept only when it looks like an id: no spaces, quotes or
# control characters that could forge a log line, and not too long.
SANE = re.compile(r"[A-Za-z0-9._:@/+=-]{8,128}")

_current: ContextVar[str | None] = ContextVar("airlock_request_id", default=None)


def request_id_from(header: str | None) -> str:
    """The caller's id when it is sane, else a new one."""
    if header and SANE.fullmatch(header):
        return header
    return uuid.uuid4().hex


def request_id_get() -> str | None:
    return _current.get()


def request_id_set(value: str | None):
    """Returns a token for request_id_reset."""
    return _current.set(value)


def request_id_reset(token) -> None:
    _current.reset(token)


def request_id_fields() -> dict:
    """{"http_request_id": id} inside a request, {} outside: for an audit payload."""
    value = _current.get()
    return {"http_request_id": value} if value else {}
