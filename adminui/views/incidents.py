"""Incidents: record one (time, resources, summary), read the trace of agent actions before it
with their approvers, outcomes and reasoning, mark the contributing ones, export Markdown."""

from datetime import UTC, datetime

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from adminui.access import HtmxHttpRequest, admin_required
from governance.errors import AirlockError
from governance.incidents import incident_mark, incident_markdown, incident_record, incident_trace
from governance.knowledge_models import Incident, IncidentContribution


def _when(value: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@require_http_methods(["GET", "POST"])
@admin_required
def incidents(request: HtmxHttpRequest) -> HttpResponse:
    rows = Incident.objects.select_related("created_by").order_by("-occurred_at", "-id")[:100]
    if request.method == "GET":
        return render(request, "adminui/incidents.html", {"incidents": rows, "form": {}})
    form = {k: request.POST.get(k, "") for k in ("occurred_at", "since", "resources", "summary")}
    occurred_at = _when(form["occurred_at"])
    since = _when(form["since"]) if form["since"].strip() else None
    error = ""
    if occurred_at is None:
        error = "When: give a time like 2026-11-20T03:10 (UTC)."
    elif form["since"].strip() and since is None:
        error = "Trace from: give a time like 2026-11-19T00:00 (UTC), or leave it empty for 14 days."
    if not error:
        resources = [r for line in form["resources"].splitlines() for r in line.split(",")]
        try:
            incident = incident_record(occurred_at=occurred_at, since=since, resources=resources,
                                       summary=form["summary"], by=request.user)
        except AirlockError as exc:
            error = exc.message
        else:
            messages.success(request, f"Incident {incident.pk} recorded.")
            return redirect("adminui:incident", pk=incident.pk)
    return render(request, "adminui/incidents.html", {"incidents": rows, "form": form, "error": error}, status=400)


@admin_required
def incident_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    lines = incident_trace(incident)
    marked = {str(r) for r in IncidentContribution.objects.filter(incident=incident).values_list("request_id", flat=True)}
    for line in lines:
        line["contributing"] = line["id"] in marked
        line["when"] = line["created_at"][:19].replace("T", " ")
    agents = sorted({line["agent"] for line in lines if line["contributing"]})
    return render(request, "adminui/incident_detail.html",
                  {"incident": incident, "lines": lines, "marked": len(marked), "agents": agents})


@require_POST
@admin_required
def incident_contribution(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    try:
        incident_mark(incident_id=pk, request_id=request.POST.get("request", ""),
                      contributing=request.POST.get("contributing") == "1", by=request.user)
    except AirlockError as exc:
        messages.error(request, exc.message)
    except ValueError:
        messages.error(request, "That is not a request id.")
    return redirect("adminui:incident", pk=pk)


@admin_required
def incident_export(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    response = HttpResponse(incident_markdown(incident), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="incident-{incident.pk}.md"'
    return response
