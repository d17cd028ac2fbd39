"""The dashboard: what Airlock has been deciding, how fast people answer, what goes wrong."""

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from adminui import dashboard as data
from adminui.access import HtmxHttpRequest, admin_required
from adminui.outcomes_board import bad_outcomes_by_agent, incident_counts
from adminui.reliability import reliability_overview

RANGES = {"24h": 24, "3d": 72, "7d": 168}


@require_GET
@admin_required
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    now = timezone.now()
    span = request.GET.get("range", "24h")
    hours = RANGES.get(span, 24)
    charts = {
        "decisions": data.decisions_per_hour(now=now, hours=hours),
        "latency": data.approval_latency(now=now),
        "expiry": data.expiry_rate(now=now),
        "violators": data.top_violators(now=now),
    }
    context = {"charts": charts, "headline": data.headline(now=now), "span": span if span in RANGES else "24h",
               "ranges": RANGES, "now": now, "reliability": reliability_overview(now=now),
               "bad_outcomes": bad_outcomes_by_agent(now=now), "incidents": incident_counts()}
    return render(request, "adminui/dashboard.html", context)
