"""Resource facts: edit the document (checked, with a diff against the version in force),
the version history, and the approvers' "remember this" proposals to accept or reject."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from adminui.access import HtmxHttpRequest, admin_required
from adminui.drafts import diff_stats, draft_diff
from governance.errors import AirlockError
from governance.facts import (
    fact_proposal_decide,
    facts_apply,
    facts_current,
    facts_to_yaml,
    facts_validate,
)
from governance.knowledge_models import FactProposal, FactSet
from governance.policy.facts import summary

STARTER = """facts:
  - resource: "db:replica-7"
    role: payments-failover
    protected: true
    note: "silent failover target for the payments primary"
"""


def _current_source() -> str:
    current = facts_current()
    return facts_to_yaml(current.document) if current is not None else ""


def _context(source: str, **extra) -> dict:
    current = facts_current()
    check_error, entries = "", []
    try:
        _document, entries = facts_validate(source)
    except AirlockError as exc:
        check_error = exc.message
    diff = draft_diff(_current_source(), source)
    added, removed = diff_stats(diff)
    return {
        "source": source,
        "current": current,
        "next_version": (current.version if current else 0) + 1,
        "check_error": check_error,
        "entries": [(e, summary(e.values)) for e in entries],
        "diff": diff,
        "added": added,
        "removed": removed,
        "proposals": FactProposal.objects.filter(state=FactProposal.State.OPEN)
        .select_related("proposed_by", "request", "request__agent").order_by("created_at")[:50],
        "versions": FactSet.objects.select_related("created_by").order_by("-version")[:10],
        **extra,
    }


@require_http_methods(["GET", "POST"])
@admin_required
def facts_edit(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "adminui/facts.html", _context(_current_source() or STARTER))
    # Browsers send textarea lines with CRLF; store what the admin typed, with plain newlines.
    source = request.POST.get("source", "").replace("\r\n", "\n")
    comment = request.POST.get("comment", "")[:500]
    if request.POST.get("intent") != "apply":
        return render(request, "adminui/facts.html", _context(source, comment=comment, checked=True))
    if source.strip() == _current_source().strip():
        return render(request, "adminui/facts.html",
                      _context(source, comment=comment, save_error="No changes against the facts in force."), status=400)
    try:
        factset = facts_apply(source=source, by=request.user, via="ui", comment=comment)
    except AirlockError as exc:
        return render(request, "adminui/facts.html", _context(source, comment=comment, save_error=exc.message),
                      status=400)
    messages.success(request, f"Facts v{factset.version} are in force.")
    return redirect("adminui:facts")


@admin_required
def facts_version(request: HtmxHttpRequest, version: int) -> HttpResponse:
    factset = get_object_or_404(FactSet.objects.select_related("created_by"), version=version)
    previous = FactSet.objects.filter(version__lt=version).order_by("-version").first()
    diff = draft_diff(facts_to_yaml(previous.document) if previous else "", facts_to_yaml(factset.document))
    added, removed = diff_stats(diff)
    return render(request, "adminui/facts_version.html",
                  {"factset": factset, "previous": previous, "diff": diff, "added": added, "removed": removed})


@require_POST
@admin_required
def fact_proposal_review(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    accept = request.POST.get("decision") == "accept"
    try:
        proposal = fact_proposal_decide(proposal_id=pk, accept=accept, by=request.user)
    except AirlockError as exc:
        messages.error(request, exc.message)
        return redirect("adminui:facts")
    if accept:
        messages.success(request, f"Accepted: {proposal.resource} is in facts v{proposal.factset_version}.")
    else:
        messages.info(request, f"Rejected the proposal for {proposal.resource}.")
    return redirect("adminui:facts")
