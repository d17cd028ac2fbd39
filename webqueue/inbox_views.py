"""Issue 12's pages and forms beside the queue: an escalation's own page, extend, batch
votes, and "decided by me". Like the queue, every change is an ordinary POST with CSRF that
goes through the approvals services; the websocket only pushes."""

import json
from functools import wraps
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from approvals.batch import MAX_BATCH, batch_vote
from approvals.extend import escalation_extend
from governance.errors import AirlockError, InvalidInput
from shared.http import HtmxHttpRequest
from webqueue import escalation_page as pages

SIGNED_OUT = "Not recorded — sign in again. Your session ended (perhaps you signed out in another tab)."


def person_required(view):
    """login_required for POSTs sent by htmx: a signed-out tab gets a 401 that says the
    answer was not recorded, instead of a login form swapped into the card."""

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args, **kwargs):
        if not request.user.is_authenticated and request.method == "POST" and getattr(request, "htmx", False):
            response = HttpResponse(SIGNED_OUT, status=401, content_type="text/plain; charset=utf-8")
            response["X-Airlock-Signed-Out"] = "1"
            return response
        return login_required(view)(request, *args, **kwargs)

    return wrapper


@require_GET
@login_required
def escalation_detail(request: HtmxHttpRequest, request_id: UUID) -> HttpResponse:
    """The escalation's permanent page: 404 for anyone who may not see it."""
    page = pages.escalation_page(request.user, request_id)
    if page is None:
        raise Http404("no such escalation")
    return render(request, "approvals/escalation.html", {"page": page, "card": page.card, "on_page": True})


@require_POST
@person_required
def escalation_extend_form(request: HtmxHttpRequest, request_id: UUID) -> HttpResponse:
    try:
        escalation_extend(request_id=request_id, user=request.user, by=request.POST.get("by", ""),
                          comment=request.POST.get("comment", "").strip())
    except AirlockError as exc:
        messages.error(request, f"Not extended: {exc.message}")
    else:
        messages.success(request, f"Deadline extended by {request.POST.get('by')}.")
    return redirect(reverse("escalation-detail", args=[request_id]))


@require_POST
@person_required
def escalation_batch_form(request: HtmxHttpRequest) -> HttpResponse:
    """Approve or deny the rows ticked in the inbox, each through the one vote service."""
    ids = request.POST.getlist("ids")[:MAX_BATCH]
    choice = request.POST.get("choice", "")
    comment = request.POST.get("comment", "").strip()
    try:
        valid = [str(UUID(i)) for i in ids]
    except ValueError:
        valid = []
    if choice not in ("approve", "deny") or not valid:
        messages.error(request, "Tick at least one escalation, then approve or deny.")
        return redirect("queue")
    results = batch_vote(ids=valid, user=request.user, choice=choice, comment=comment, via="web")
    done = sum(1 for r in results if r["ok"])
    failed = [r for r in results if not r["ok"]]
    if done:
        messages.success(request, f"{'Approved' if choice == 'approve' else 'Denied'} {done} of {len(results)}.")
    for r in failed:
        messages.error(request, f"{r['id'][:8]}: not recorded: {r['error']['message']}")
    return redirect("queue")


@require_GET
@login_required
def decided(request: HtmxHttpRequest) -> HttpResponse:
    """What this person decided, newest first."""
    try:
        number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        number = 1
    rows, total = pages.decided_by(request.user, page=number)
    return render(request, "approvals/decided.html", {
        "rows": rows, "total": total, "page_number": number,
        "has_next": number * 25 < total, "has_previous": number > 1,
    })


def edited_params_from_post(post, original: dict) -> dict | None:
    """The approve-with-edits form: one field `param.<key>` per scalar param, typed like the
    original (numbers parsed as JSON numbers). None when nothing was edited."""
    if post.get("edit") != "1":
        return None
    params = dict(original)
    for key, value in original.items():
        field = f"param.{key}"
        if field not in post:
            continue
        text = post.get(field, "").strip()
        if isinstance(value, bool):
            params[key] = text.lower() in ("true", "1", "yes", "on")
        elif isinstance(value, (int, float)):
            try:
                number = json.loads(text.replace(",", ""))
            except ValueError:
                raise InvalidInput(f"{key} must be a number") from None
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise InvalidInput(f"{key} must be a number")
            params[key] = number
        elif isinstance(value, str):
            params[key] = text
    return params if params != original else None
