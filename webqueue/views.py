"""The approvers' web queue: the page, the card list (for resyncs) and the vote POST.

Every change is an ordinary POST with CSRF; the websocket only pushes. Votes go through
approval_decide, the same service as Slack and the API, so races are settled in one place.
"""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from approvals import services
from approvals.models import Vote
from governance.errors import AirlockError, Conflict, InvalidInput, NotEligible, NotFound
from governance.models import DecisionRequest
from shared.http import HtmxHttpRequest
from webqueue import cards
from webqueue.inbox_views import edited_params_from_post, person_required

WS_PATH = "/ws/queue/"
MAX_COMMENT = 2000


def _queue_context(request: HttpRequest) -> dict:
    inbox = cards.inbox_page(request.user, request.GET)
    return {
        **inbox,
        "breakers": cards.breaker_trips(),
        "now_iso": timezone.now().isoformat().replace("+00:00", "Z"),
        "ws_path": WS_PATH,
        # Rows only: a row's details (reasons, params, history) load when it is expanded.
        "compact": True,
    }


@require_GET
@login_required
def queue(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "approvals/queue.html", _queue_context(request))


@require_GET
@login_required
def queue_cards(request: HtmxHttpRequest) -> HttpResponse:
    """The list alone: the page fetches it when its websocket (re)connects, to catch up."""
    return render(request, "approvals/queue.html#list", _queue_context(request))


@require_GET
@login_required
def escalation_card(request: HtmxHttpRequest, request_id: UUID) -> HttpResponse:
    """One full card, fetched when its compact row is expanded; 404 for anyone who may not see it."""
    card = cards.card(request.user, request_id)
    if card is None:
        raise Http404("no such escalation")
    return render(request, "approvals/queue.html#card", {"card": card})


def _vote(request: HttpRequest, request_id: UUID) -> tuple[int, str, str]:
    """Record the vote; returns (HTTP status, message for the card, message kind)."""
    choice = request.POST.get("choice", "")
    comment = request.POST.get("comment", "").strip()
    try:
        if choice not in Vote.Choice.values:
            raise InvalidInput("choose approve or deny")
        if len(comment) > MAX_COMMENT:
            raise InvalidInput(f"comment longer than {MAX_COMMENT} characters")
        params = None
        if request.POST.get("edit") == "1":  # approve with edits (the escalation's page)
            original = DecisionRequest.objects.filter(pk=request_id).values_list("params", flat=True).first()
            params = edited_params_from_post(request.POST, original if isinstance(original, dict) else {})
        services.approval_decide(request_id=request_id, user=request.user, choice=choice, comment=comment,
                                 via="web", params=params)
    except Conflict as exc:
        return exc.status, f"Already decided: {exc.message}", "warn"
    except NotEligible as exc:
        return exc.status, f"You cannot answer this one: {exc.message}", "error"
    except (InvalidInput, NotFound) as exc:
        return exc.status, exc.message, "error"
    except AirlockError as exc:
        return exc.status, f"Not recorded: {exc.message}", "error"
    return 200, "", ""


@require_POST
@person_required
def escalation_vote(request: HtmxHttpRequest, request_id: UUID) -> HttpResponse:
    """Approve or deny in place; answers with the card as it now stands."""
    status, message, kind = _vote(request, request_id)
    if not request.htmx:
        # Without JavaScript the form posts normally: back to the queue with a message.
        if message:
            messages.add_message(request, messages.WARNING if status == 409 else messages.ERROR, message)
        if request.POST.get("return") == "page":
            return redirect("escalation-detail", request_id=request_id)
        return redirect("queue")
    card = cards.card(request.user, request_id)
    if card is None:
        return render(request, "approvals/queue.html#gone", {"request_id": request_id, "message": message}, status=status)
    card.message, card.message_kind = message, kind
    return render(request, "approvals/queue.html#card", {"card": card}, status=status)
