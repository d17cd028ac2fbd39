"""The audit trail: filter, page through (keyset), verify the chain, export JSON Lines."""

import time

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from adminui.access import HtmxHttpRequest, admin_required
from adminui.audit_trail import AuditFilter, audit_page, kind_choices
from adminui.forms import AuditFilterForm
from adminui.services import admin_event
from governance.audit import ChainBreak, audit_verify, chain_for
from governance.audit_export import audit_events_jsonl
from governance.models import Agent, AuditChainHead, AuditEvent


def _filters(form: AuditFilterForm) -> AuditFilter | None:
    if not form.is_valid():
        return None
    data = form.cleaned_data
    agent = Agent.objects.filter(name=data["agent"]).first() if data["agent"] else None
    return AuditFilter(
        agent=agent, kind=data["kind"].strip(), actor=data["actor"].strip(), since=data["since"], until=data["until"]
    )


def _query_without_cursor(request: HtmxHttpRequest) -> str:
    query = request.GET.copy()
    query.pop("before", None)
    query.pop("after", None)
    return query.urlencode()


@require_GET
@admin_required
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters = _filters(form) if request.GET else AuditFilter()
    page = None
    if filters is not None:
        page = audit_page(filters=filters, before=request.GET.get("before", ""), after=request.GET.get("after", ""))
    context = {
        "form": form if request.GET else AuditFilterForm(),
        "page": page,
        "filters": filters,
        "query": _query_without_cursor(request),
        "known_kinds": kind_choices(),
        "audit_url": reverse("adminui:audit"),
        "agents_url": reverse("adminui:agents"),
    }
    if request.htmx and request.htmx.target == "audit-results":
        return render(request, "adminui/audit.html#results", context)
    return render(request, "adminui/audit.html", context)


@require_GET
@admin_required
def audit_event(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One event's payload and hashes, fetched when its row is opened (keeps pages light)."""
    event = get_object_or_404(AuditEvent, pk=pk)
    return render(request, "adminui/audit.html#event", {"event": event})


def _verify(agent: Agent | None) -> tuple[ChainBreak | None, int, int]:
    """(first break, events checked, chains checked): one agent's chain, or all of them."""
    if agent is None:
        return audit_verify(), AuditEvent.objects.count(), AuditChainHead.objects.count()
    chain = chain_for(agent)
    return audit_verify(chains=[chain]), AuditEvent.objects.filter(chain=chain).count(), 1


@require_POST
@admin_required
def audit_chain_verify(request: HtmxHttpRequest) -> HttpResponse:
    """Recompute every hash (O(n): a button, never on page load). With an agent chosen in
    the filter, only that agent's chain: seconds instead of minutes on a large trail."""
    agent = Agent.objects.filter(name=request.POST.get("agent", "")).first() if request.POST.get("agent") else None
    started = time.perf_counter()
    problem, events, chains = _verify(agent)
    elapsed = time.perf_counter() - started
    admin_event(
        kind="admin.audit_verified", by=request.user,
        payload={"intact": problem is None, "problem": str(problem) if problem else "", "events": events,
                 "scope": chain_for(agent) if agent else "all"},
    )
    context = {"problem": problem, "elapsed": elapsed, "events": events, "chains": chains,
               "checked_at": timezone.now(), "scope_agent": agent}
    return render(request, "adminui/audit.html#chain", context)


@require_GET
@admin_required
def audit_export(request: HtmxHttpRequest) -> HttpResponse:
    """JSON Lines of exactly the current filter, streamed (exports can be millions of lines)."""
    form = AuditFilterForm(request.GET)
    filters = _filters(form)
    if filters is None:
        return HttpResponse("invalid filter: " + form.errors.as_text(), status=400, content_type="text/plain")
    # Who took a copy of the trail, and which part, is itself worth keeping.
    admin_event(
        kind="admin.audit_exported", by=request.user,
        payload={k: str(v) for k, v in form.cleaned_data.items() if v},
    )
    lines = (line + "\n" for line in audit_events_jsonl(queryset=filters.queryset()))
    response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="airlock-audit-{stamp}.jsonl"'
    return response
