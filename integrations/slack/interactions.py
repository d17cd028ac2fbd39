"""What an Approve / Deny click in Slack does: find the Airlock person behind the Slack user,
then record their vote through approval_decide, the service the web queue and the API use.

A click never talks to Slack itself: refusals ("not eligible", "already decided") are queued as
ephemeral messages after commit, and the message update follows from the service's signals.
"""

import logging

from django.contrib.auth import get_user_model
from django.db import transaction

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


def refuse(click: Click, text: str) -> None:
    """Tell only the clicker, in Slack, after commit."""
    from integrations.slack.tasks import slack_ephemeral_post

    payload = {"channel": click.channel_id, "user": click.slack_user_id, "text": text}
    transaction.on_commit(lambda: slack_ephemeral_post.delay(**payload))


def click_decide(click: Click, user) -> str:
    """Record `user`'s click (or refuse it). Returns a short label of what happened."""
    if user is None:
        logger.warning("slack click by unlinked Slack user %s on %s", click.slack_user_id, click.request_id)
        refuse(click, NOT_LINKED.format(slack_id=click.slack_user_id))
        return "unknown_user"
    try:
        outcome = approval_decide(request_id=click.request_id, user=user, choice=click.choice, via="slack")
    except NotEligible:
        logger.warning("slack click by ineligible %s on %s", user.get_username(), click.request_id)
        refuse(click, NOT_ELIGIBLE)
        return "not_eligible"
    except NotFound:
        refuse(click, NOT_FOUND)
        return "not_found"
    except Conflict as exc:
        refuse(click, ALREADY_VOTED if exc.code == "already_voted" else already_decided_text(click.request_id))
        return exc.code
    return "resolved" if outcome.resolved else "counted"


def click_handle(click: Click) -> str:
    """Called by the interactivity view. A Slack id linked in Airlock is decided at once (one
    short transaction); otherwise the email lookup needs users.info, so a worker does it."""
    user = person_by_slack_id(click.slack_user_id)
    if user is not None:
        return click_decide(click, user)
    from integrations.slack.tasks import slack_click_resolve

    slack_click_resolve.delay(click.as_dict())
    return "queued"
