"""Anomalies: captured envelope violations, triaged by tag and state, re-tagged, resolved."""

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from adminui.access import HtmxHttpRequest, admin_required
from adminui.forms import AnomalyFilterForm, ResolveForm, RetagForm
from adminui.selectors import anomalies_filtered, anomaly_counts
from governance.anomalies import anomaly_resolve as resolve
from governance.anomalies import anomaly_retag as retag
from governance.errors import AirlockError
from governance.models import Anomaly


@require_GET
@admin_required
def anomalies(request: HtmxHttpRequest) -> HttpResponse:
    # Open ones first: that is the work queue. Resolved ones are one click away.
    form = AnomalyFilterForm(request.GET or {"state": "open"})
    data = form.cleaned_data if form.is_valid() else {}
    rows = anomalies_filtered(tag=data.get("tag", ""), state=data.get("state", ""), agent=data.get("agent", ""))
    # Anomalies are few compared with the audit trail, and people jump between pages of them.
    page = Paginator(rows, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "counts": anomaly_counts(), "query": query.urlencode(), "tags": Anomaly.Tag.choices}
    if request.htmx and request.htmx.target == "anomaly-results":
        return render(request, "adminui/anomalies.html#results", context)
    return render(request, "adminui/anomalies.html", context)


@require_GET
@admin_required
def anomaly_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    anomaly = get_object_or_404(Anomaly.objects.select_related("agent", "request", "resolved_by"), pk=pk)
    return render(request, "adminui/anomaly_detail.html", {"anomaly": anomaly, "tags": Anomaly.Tag.choices})


def _triage_response(request: HtmxHttpRequest, anomaly: Anomaly, error: str) -> HttpResponse:
    anomaly.refresh_from_db()
    context = {"anomaly": anomaly, "tags": Anomaly.Tag.choices, "triage_error": error, "triage_done": not error}
    if request.htmx:
        return render(request, "adminui/anomaly_detail.html#triage", context, status=200)
    if error:
        return render(request, "adminui/anomaly_detail.html", context, status=400)
    return redirect("adminui:anomaly", pk=anomaly.pk)


@require_POST
@admin_required
def anomaly_retag(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    anomaly = get_object_or_404(Anomaly.objects.select_related("agent"), pk=pk)
    form = RetagForm(request.POST)
    error = ""
    if not form.is_valid():
        error = "Choose a tag: security, reliability or unclassified."
    else:
        try:
            retag(anomaly=anomaly, tag=form.cleaned_data["tag"], by=request.user, reason=form.cleaned_data["reason"])
        except AirlockError as exc:
            error = exc.message
    return _triage_response(request, anomaly, error)


@require_POST
@admin_required
def anomaly_resolve(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    anomaly = get_object_or_404(Anomaly.objects.select_related("agent"), pk=pk)
    form = ResolveForm(request.POST)
    error = ""
    if not form.is_valid():
        error = "Write a note saying what you found."
    else:
        try:
            resolve(anomaly=anomaly, note=form.cleaned_data["note"], by=request.user)
        except AirlockError as exc:
            error = exc.message
    return _triage_response(request, anomaly, error)
