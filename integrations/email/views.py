"""The pages behind an email's approve / deny links.

GET only shows a confirmation page: mail scanners and link previews follow links, and must
never vote. The POST from that page (CSRF-protected) votes as the link's person through the one
vote service, with via="email"; the link is spent in the same transaction as the vote.
"""

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from approvals.links import escalation_url
from approvals.outcomes import outcome_word
from approvals.services import approval_decide
from governance.decide import effective_status
from governance.errors import AirlockError, Conflict
from integrations.email.links import link_find
from integrations.email.mail import time_left
from integrations.email.models import VoteLink

VERB = {"approve": "Approve", "deny": "Deny"}


def _page(request: HttpRequest, link: VoteLink, status: int = 200, **extra) -> HttpResponse:
    req = link.escalation.request
    context = {
        "link": link,
        "request": req,
        "verb": VERB.get(link.choice, link.choice),
        "params": req.params if isinstance(req.params, dict) else {},
        "reasons": [r for r in req.reasons or [] if isinstance(r, dict)],
        "time_left": time_left(link.escalation.deadline),
        "page_url": escalation_url(req.id),
        **extra,
    }
    response = render(request, "email/confirm.html", context, status=status)
    # The token is in the URL: keep it out of other sites' Referer headers and out of caches.
    # ("no-referrer" would make browsers send "Origin: null" with the form, which CSRF refuses.)
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store"
    return response


def _dead(link: VoteLink) -> tuple[str, str] | None:
    """Why this link cannot vote any more, if it cannot."""
    status = effective_status(link.escalation.request)
    if link.used_at is not None:
        return "Link already used", "This link has been used. Each link works once."
    if status != "pending":
        return "Already decided", f"This escalation is no longer pending: {outcome_word(status)}."
    return None


@require_http_methods(["GET", "POST"])
def vote(request: HttpRequest, token: str) -> HttpResponse:
    link = link_find(token)
    if link is None or not settings_enabled():
        raise Http404("no such link")
    dead = _dead(link)
    if dead is not None:
        return _page(request, link, status=409, error_title=dead[0], error=dead[1])
    if request.method == "GET":
        return _page(request, link)
    comment = request.POST.get("comment", "")
    try:
        with transaction.atomic():
            outcome = approval_decide(
                request_id=link.escalation_id, user=link.user, choice=link.choice, comment=comment, via="email"
            )
            spent = VoteLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=timezone.now())
            if spent != 1:  # the same link posted twice at once: the other POST won
                raise Conflict("this link has been used", code="link_used")
            # The person has voted: their other link (the opposite choice) dies too.
            VoteLink.objects.filter(escalation_id=link.escalation_id, user=link.user, used_at__isnull=True).update(
                used_at=timezone.now()
            )
    except AirlockError as exc:
        return _page(request, link, status=exc.status, error_title="Not recorded", error=str(exc))
    on_behalf = outcome.vote.on_behalf_of.get_username() if outcome.vote.on_behalf_of_id else ""
    return _page(request, link, done="Approved" if link.choice == "approve" else "Denied",
                 on_behalf=on_behalf, outcome_status=outcome_word(outcome.request.status))


def settings_enabled() -> bool:
    return settings.EMAIL_ENABLED
