"""One wording for how an escalation stands, used by every interface and channel (web queue,
Slack, ...). The words follow the API's statuses and the audit kinds (escalation.approved,
escalation.rejected, escalation.expired): a deny by a person is "Rejected" everywhere, and
an expiry is always shown as the deny it is."""

OUTCOME_WORDS = {
    "pending": "Approval needed",
    "approved": "Approved",
    "rejected": "Rejected",
    "expired": "Expired — treated as deny",
}


def outcome_word(status: str) -> str:
    """The word for an escalation's (effective) status."""
    return OUTCOME_WORDS.get(status, status.capitalize())
