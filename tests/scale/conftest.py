"""The approvers, admin and callback agent of the escalation tests, for the scale-out test."""

from tests.approvals.conftest import admin, alice, callback_agent  # noqa: F401
