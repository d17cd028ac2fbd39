"""Fixtures borrowed from the approvals tests (an agent with a callback URL)."""

from tests.approvals.conftest import callback_agent  # noqa: F401
