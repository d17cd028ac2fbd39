"""Who gets an email about an escalation, and what it says.

Recipients are the people eligible at that moment (approvals.eligibility, the one check every
channel uses; delegates included) who have an email address and have not muted this channel
(approvals.preferences). The message carries the card's facts, the time left, a link to the
escalation's page and one approve and one deny link of their own.
"""

from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone

from approvals.eligibility import eligible_approvers, votes_by
from approvals.links import absolute_url, escalation_url
from approvals.models import Escalation
from approvals.preferences import notifies
from integrations.email.links import link_create
from integrations.email.models import EmailSent

CHANNEL = "email"
SUBJECT = {
    EmailSent.Reason.OPENED: "Approval needed",
    EmailSent.Reason.TIER: "Approval needed (escalated to you)",
    EmailSent.Reason.REMINDER: "Reminder",
}


def time_left(deadline: datetime, now: datetime | None = None) -> str:
    """"12 min", "45 s", "1 h 5 min": how long approvers still have."""
    seconds = int((deadline - (now or timezone.now())).total_seconds())
    if seconds <= 0:
        return "no time"
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"


def recipients(escalation: Escalation, reason: str, groups: list[str] | None = None, now: datetime | None = None) -> list:
    """The people to mail for this reason, in username order."""
    now = now or timezone.now()
    if reason == EmailSent.Reason.TIER:
        people = list(eligible_approvers(escalation, now, groups=list(groups or [])))
        told = set(EmailSent.objects.filter(escalation=escalation).values_list("user_id", flat=True))
        people = [p for p in people if p.pk not in told]
    else:
        people = list(eligible_approvers(escalation, now))
    if reason == EmailSent.Reason.REMINDER:
        people = [p for p in people if not votes_by(escalation, [p]).exists()]
    return [p for p in people if p.email and notifies(p, CHANNEL)]


def _oneline(text: object, limit: int = 120) -> str:
    text = " ".join(str(text).split())  # no newline can reach a header
    return text if len(text) <= limit else text[: limit - 1] + "…"


def message_build(*, escalation: Escalation, user, reason: str, tier: int | None = None,
                  now: datetime | None = None) -> EmailMultiAlternatives:
    """The message for one person, with fresh single-use approve / deny links."""
    now = now or timezone.now()
    request = escalation.request
    approve = link_create(escalation=escalation, user=user, choice="approve")
    deny = link_create(escalation=escalation, user=user, choice="deny")
    left = time_left(escalation.deadline, now)
    what = f"{request.agent.name} wants {request.action}" + (f" on {request.resource}" if request.resource else "")
    context = {
        "reason": reason,
        "tier": tier,
        "user": user,
        "request": request,
        "escalation": escalation,
        "params": request.params if isinstance(request.params, dict) else {},
        "reasons": [r for r in request.reasons or [] if isinstance(r, dict)],
        "risk": request.risk or {},
        "reasoning": (request.context or {}).get("reasoning", "") if isinstance(request.context, dict) else "",
        "time_left": left,
        "deadline": escalation.deadline,
        "page_url": escalation_url(request.id),
        "approve_url": absolute_url(f"/email/vote/{approve}/"),
        "deny_url": absolute_url(f"/email/vote/{deny}/"),
        "preferences_url": absolute_url("/me/"),
    }
    subject = _oneline(f"[Airlock] {SUBJECT[reason]}: {what} ({left} left)", 200)
    text = render_to_string("email/escalation.txt", context)
    html = render_to_string("email/escalation.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [user.email])
    message.attach_alternative(html, "text/html")
    return message
