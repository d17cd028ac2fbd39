"""What an Approve / Deny click in Slack does: find the Airlock person behind the Slack user,
then record their vote through approval_decide, the service the web queue and the API use.

A click never talks to Slack itself: click_decide returns the refusal to show ("not eligible",
"already decided"), which the caller (the view, or the lookup task) queues as an ephemeral
message after commit; the message update follows from the service's signals. Nothing here
imports the tasks, so tasks.py can import this module.
"""

import logging

from django.contrib.auth import get_user_model

from approvals.models import ApproverProfile
from approvals.services import approval_decide
from governance.errors import Conflict, NotEligible, NotFound
from governance.models import DecisionRequest
from integrations.slack.client import Click

logger = logging.getLogger("airlock.slack")

NOT_LINKED = (
    "Airlock does not know your Slack account, so your click was not counted. "
    "Ask an Airlock admin to link it (`manage.py approver_add YOU --group G --slack-id {slack_id}`) "
    "or to give your Airlock user the same email as your Slack profile."
)
NOT_ELIGIBLE = "You are not an eligible approver for this request, so your click was not counted."
NOT_FOUND = "Airlock has no such request any more; nothing was recorded."
ALREADY_VOTED = "You have already answered this request; your first answer stands."


def person_by_slack_id(slack_user_id: str):
    """The active person explicitly linked to this Slack user (approver_add --slack-id)."""
    profile = (
        ApproverProfile.objects.select_related("user")
        .filter(slack_user_id=slack_user_id, user__is_active=True)
        .first()
    )
    return profile.user if profile else None


def person_by_email(email: str | None):
    """The one active person with this email; nobody when none or several share it."""
    if not email:
        return None
    people = list(get_user_model().objects.filter(email__iexact=email, is_active=True)[:2])
    return people[0] if len(people) == 1 else None


def already_decided_text(request_id: str) -> str:
    request = DecisionRequest.objects.filter(pk=request_id).first()
    if request is None:
        return NOT_FOUND
    who = ", ".join(request.decided_by or [])
    text = f"Too late: this request was already {request.status}"
    text += f" by {who}." if who else "."
    return text + " Your click was not counted."


def click_decide(click: Click, user) -> tuple[str, str | None]:
    """Record `user`'s click, or refuse it. Returns (a short label of what happened, the text
    to show only the clicker, or None when the click counted)."""
    if user is None:
        logger.warning("slack click by unlinked Slack user %s on %s", click.slack_user_id, click.request_id)
        return "unknown_user", NOT_LINKED.format(slack_id=click.slack_user_id)
    try:
        outcome = approval_decide(request_id=click.request_id, user=user, choice=click.choice, via="slack")
    except NotEligible:
        logger.warning("slack click by ineligible %s on %s", user.get_username(), click.request_id)
        return "not_eligible", NOT_ELIGIBLE
    except NotFound:
        return "not_found", NOT_FOUND
    except Conflict as exc:
        return exc.code, ALREADY_VOTED if exc.code == "already_voted" else already_decided_text(click.request_id)
    return ("resolved" if outcome.resolved else "counted"), None
