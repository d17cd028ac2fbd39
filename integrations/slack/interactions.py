"""What an Approve / Deny click in Slack does: find the Airlock person behind the Slack user,
then record their vote through approval_decide, the service the web queue and the API use.

A click never talks to Slack itself: click_decide returns the refusal to show ("not eligible",
"already decided"), which the caller (the view, or the lookup task) queues as an ephemeral
message after commit; the message update follows from the service's signals. Nothing here
imports the tasks, so tasks.py can import this module.
"""

import hashlib
import logging
import threading

from django.conf import settings
from django.contrib.auth import get_user_model

from approvals.links import escalation_url
from approvals.models import ApproverProfile
from approvals.services import approval_decide
from approvals.vote_checks import CommentRequired, WebOnly
from governance.errors import Conflict, NotEligible, NotFound
from governance.models import DecisionRequest
from integrations.slack import client
from integrations.slack.client import Click, SlackFailure

logger = logging.getLogger("airlock.slack")

NOT_LINKED = (
    "Airlock does not know your Slack account, so your click was not counted. "
    "Ask an Airlock admin to link it (`manage.py approver_add YOU --group G --slack-id {slack_id}`) "
    "or to give your Airlock user the same email as your Slack profile."
)
NOT_ELIGIBLE = "You are not an eligible approver for this request, so your click was not counted."
NOT_FOUND = "Airlock has no such request any more; nothing was recorded."
ALREADY_VOTED = "You have already answered this request; your first answer stands."


class WrongWorkspace(Exception):
    """The click comes from a workspace other than Airlock's (or names none)."""


class WorkspaceUnknown(Exception):
    """Airlock cannot tell which workspace is its own: SLACK_TEAM_ID is unset and auth.test
    failed. Fail closed: no click counts until it is known."""


_teams: dict[str, str] = {}  # sha256(bot token) -> team id learned through auth.test
_teams_lock = threading.Lock()


def own_team_id() -> str:
    """Airlock's workspace: SLACK_TEAM_ID when configured, else the team the bot token
    belongs to (auth.test, asked once per process and token, then cached; a failure is not
    cached, so the next click asks again)."""
    if settings.SLACK_TEAM_ID:
        return settings.SLACK_TEAM_ID
    key = hashlib.sha256(settings.SLACK_BOT_TOKEN.encode()).hexdigest()
    with _teams_lock:
        if key in _teams:
            return _teams[key]
    try:
        team_id = client.bot_team_id()
    except SlackFailure as exc:
        logger.error("slack: cannot learn Airlock's workspace (auth.test: %s); set SLACK_TEAM_ID. "
                     "Clicks are refused until it is known", exc)
        raise WorkspaceUnknown(str(exc)) from None
    with _teams_lock:
        _teams[key] = team_id
    logger.info("slack: Airlock's workspace is %s (learned through auth.test)", team_id)
    return team_id


def workspace_check(click: Click) -> None:
    """Raise WrongWorkspace unless the click comes from Airlock's own workspace. A request
    signed with the app's secret can come from any workspace the app is installed in, so the
    signature alone does not make a click ours."""
    own = own_team_id()
    if click.team_id != own:
        logger.warning("slack click from workspace %r (Airlock's is %s) by %s on %s refused",
                       click.team_id, own, click.slack_user_id, click.request_id)
        raise WrongWorkspace(click.team_id)


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
    except (WebOnly, CommentRequired) as exc:
        # The envelope wants this one answered on its page (high risk, or a comment Slack's
        # buttons cannot carry): nothing was recorded; send the person there.
        url = escalation_url(click.request_id)
        link = f"<{url}|the escalation's page>" if url.startswith("http") else f"the escalation's page ({url})"
        why = ("its risk is too high to answer from Slack" if exc.code == "web_only"
               else "at this risk a vote needs a comment, which a button cannot carry")
        return exc.code, f"Not recorded: {why}. Answer it on {link}."
    except Conflict as exc:
        return exc.code, ALREADY_VOTED if exc.code == "already_voted" else already_decided_text(click.request_id)
    return ("resolved" if outcome.resolved else "counted"), None
