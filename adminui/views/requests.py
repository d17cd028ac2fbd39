"""One decision request as an admin sees it: the answer, the facts in force, who approved,
the agent's reasoning, the outcome it reported, and incidents it was marked in."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from adminui.access import HtmxHttpRequest, admin_required
from governance.decide import effective_status
from governance.models import DecisionRequest
from governance.policy.facts import summary


@admin_required
def request_detail(request: HtmxHttpRequest, request_id) -> HttpResponse:
    row = get_object_or_404(DecisionRequest.objects.select_related("agent"), pk=request_id)
    row.shown_status = effective_status(row, timezone.now())
    facts = row.facts or {}
    return render(request, "adminui/request_detail.html", {
        "r": row,
        "facts_summary": summary(facts.get("values") or {}),
        "incidents": list(row.incidents.order_by("-occurred_at")),
    })
