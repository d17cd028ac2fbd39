""""Remember this": an approver proposes a resource fact from an escalation they can see; an
admin accepts it on the Facts page (adminui). Nothing changes policy until then."""

from uuid import UUID

import yaml
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from approvals.selectors import visible_escalation
from governance.errors import AirlockError
from governance.facts import fact_propose
from shared.http import HtmxHttpRequest

MAX_TEXT = 2000


def _parse(text: str) -> dict:
    """`key: value` lines (YAML scalars: true, 3, text) to a mapping; {} when unreadable."""
    if len(text) > MAX_TEXT:
        return {}
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return values if isinstance(values, dict) else {}


@require_POST
@login_required
def escalation_remember(request: HtmxHttpRequest, request_id: UUID) -> HttpResponse:
    if visible_escalation(request.user, request_id) is None:
        messages.error(request, "This escalation is not yours to see.")
        return redirect("queue")
    values = _parse(request.POST.get("facts", ""))
    if not values:
        messages.error(request, "Write at least one fact as key: value (e.g. protected: true).")
        return redirect("queue")
    resource = request.POST.get("resource", "").strip()
    try:
        fact_propose(request_id=request_id, resource=resource, values=values, by=request.user)
    except AirlockError as exc:
        messages.error(request, f"Not proposed: {exc.message}")
        return redirect("queue")
    messages.success(request, f"Proposed a fact about {resource}; an admin will accept or reject it.")
    return redirect("queue")
