"""Thread replies under an escalation's message: a tier opened, or the deadline is near.

Each names the time left and mentions the people it concerns (`<@U…>`: Airlock's own Slack
ids, never agent text) who are linked to Slack and have not muted this channel
(approvals.preferences). The escalation message itself stays as sync.py renders it.
"""

import logging

from django.utils import timezone

from approvals.eligibility import eligible_approvers, votes_by
from approvals.links import escalation_url
from approvals.models import ApproverProfile, Escalation
from approvals.preferences import notifies
from governance.models import DecisionRequest
from integrations.slack import client
from integrations.slack.blocks import escape, mrkdwn, slack_date, word
from integrations.slack.models import SlackMessage

logger = logging.getLogger("airlock.slack")

CHANNEL = "slack"


def time_left(escalation: Escalation) -> str:
    seconds = int((escalation.deadline - timezone.now()).total_seconds())
    if seconds <= 0:
        return "no time"
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def mentions(people) -> str:
    """<@U…> for each person linked to Slack who wants Slack notifications."""
    ids = dict(
        ApproverProfile.objects.filter(user__in=[p.pk for p in people]).exclude(slack_user_id="")
        .values_list("user_id", "slack_user_id")
    )
    return " ".join(f"<@{escape(ids[p.pk])}>" for p in people if p.pk in ids and notifies(p, CHANNEL))


def notice_text(escalation: Escalation, kind: str, groups: list[str], tier: int | None, people) -> str:
    request = escalation.request
    what = f"{word(request.agent.name)} wants {word(request.action)}"
    left = time_left(escalation)
    deadline = slack_date(escalation.deadline)
    who = mentions(people)
    link = f"<{escalation_url(request.id)}|open in Airlock>"
    if kind == "tier":
        names = escape(", ".join(groups))
        text = f":arrow_up: *Tier {tier or ''} is now eligible* ({names}): {what} · *{left} left* (deadline {deadline})"
    else:
        text = f":alarm_clock: *Reminder: {left} left* before this expires to deny (deadline {deadline}): {what}"
    if who:
        text += f"\n{who}"
    return text + f" · {link}"


def notice_post(*, request_id: str, kind: str, groups: list[str] | None = None, tier: int | None = None) -> str:
    """Post the notice as a reply in the escalation's thread (broadcast to the channel)."""
    escalation = (
        Escalation.objects.select_related("request__agent").filter(pk=request_id).first()
    )
    if escalation is None or escalation.request.status != DecisionRequest.Status.PENDING:
        return "not_pending"
    message = SlackMessage.objects.filter(pk=request_id).first()
    if message is None:
        return "no_message"  # the message sync has not posted yet; the web and email still notify
    if kind == "tier":
        people = list(eligible_approvers(escalation, groups=list(groups or [])))
    else:
        people = [p for p in eligible_approvers(escalation) if not votes_by(escalation, [p]).exists()]
    text = notice_text(escalation, kind, list(groups or []), tier, people)
    client.message_post(channel=message.channel, text=text, blocks=[{"type": "section", "text": mrkdwn(text)}],
                        thread_ts=message.ts)
    return "posted"
