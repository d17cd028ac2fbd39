"""Policy authoring beside the envelope editor: the JSON check the code editor lints with,
rule templates, "always allow this" from an approved escalation, and suggestions from
approval history. None of these activates anything; activation stays in the editor."""

import uuid

from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from adminui.access import HtmxHttpRequest, admin_required
from adminui.drafts import draft_check
from adminui.explain import explain
from adminui.narrow_rules import allow_draft, deny_draft
from adminui.rule_templates import BY_SLUG, TemplateError, template_insert
from adminui.suggestions import suggestions_find
from adminui.views.envelopes import _editor_context, _posted_source
from governance.models import Agent, DecisionRequest


def _json_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@require_POST
@admin_required
def envelope_check(request: HtmxHttpRequest, name: str) -> JsonResponse:
    """The server compiler's verdict on a draft, as JSON: valid, or errors with line,
    column, field and a plain-language message (what is wrong, where, an example of right)."""
    agent = get_object_or_404(Agent.objects.select_related("active_envelope"), name=name)
    if "source" not in request.POST:
        return _json_error(400, "invalid_request", "post the draft as the form field 'source'")
    source = _posted_source(request)
    check = draft_check(agent=agent, source=source)
    if check.ok:
        compiled = check.compiled
        return JsonResponse({
            "valid": True,
            "summary": {"capabilities": len(compiled.capabilities), "sequences": len(compiled.sequences),
                        "mode": compiled.mode, "default": compiled.default, "quorum": compiled.quorum},
        })
    return JsonResponse({"valid": False, "errors": [explain(source, check).as_json()]})


@require_POST
@admin_required
def envelope_template(request: HtmxHttpRequest, name: str, slug: str) -> HttpResponse:
    """Apply one rule template to the posted draft and return the editor with the result."""
    agent = get_object_or_404(Agent.objects.select_related("active_envelope"), name=name)
    template = BY_SLUG.get(slug)
    if template is None:
        return render(request, "adminui/authoring_problem.html", status=404)
    source = _posted_source(request)
    form = template.form(request.POST, prefix=slug)
    if not form.is_valid():
        context = _editor_context(agent, source, template_forms={slug: form}, open_template=slug,
                                  save_error=f"The {template.title.lower()} form has errors; nothing was added.")
        return render(request, "adminui/envelope_edit.html", context, status=400)
    try:
        new_source, summary = template_insert(source=source, form=form)
    except TemplateError as exc:
        context = _editor_context(agent, source, template_forms={slug: form}, open_template=slug, save_error=str(exc))
        return render(request, "adminui/envelope_edit.html", context, status=400)
    context = _editor_context(agent, new_source, inserted=summary)
    return render(request, "adminui/envelope_edit.html", context)


def _draft_page(request, agent: Agent, source: str, origin: str) -> HttpResponse:
    context = _editor_context(agent, source, origin=origin, auto_preview=True)
    return render(request, "adminui/envelope_edit.html", context)


@require_GET
@admin_required
def always_allow(request: HtmxHttpRequest, request_id: uuid.UUID) -> HttpResponse:
    """From an approved escalation: a draft with a capability for exactly this agent,
    action and resource, allowing up to the approved params; opened in the editor with its
    replay preview running. Nothing is activated."""
    decided = get_object_or_404(DecisionRequest.objects.select_related("agent__active_envelope"), pk=request_id)
    agent = decided.agent
    if decided.status != DecisionRequest.Status.APPROVED:
        messages.error(request, f"Only an approved escalation can become a rule; this request is {decided.status}.")
        return render(request, "adminui/authoring_problem.html", {"reason": "not_approved"}, status=409)
    try:
        source = allow_draft(
            agent=agent, action=decided.action, resource=decided.resource, params=decided.params or {},
            capability=decided.capability, name=f"always-allow-{str(decided.pk)[:8]}",
        )
    except TemplateError as exc:
        messages.error(request, str(exc))
        return render(request, "adminui/authoring_problem.html", status=409)
    return _draft_page(request, agent, source, origin=f"approved request {decided.pk}")


@require_GET
@admin_required
def suggestions(request: HtmxHttpRequest) -> HttpResponse:
    days = _bounded_int(request.GET.get("days"), 30, 1, 90)
    min_count = _bounded_int(request.GET.get("min"), 5, 2, 1000)
    found = suggestions_find(days=days, min_count=min_count)
    return render(request, "adminui/suggestions.html", {"found": found, "days": days, "min_count": min_count})


@require_GET
@admin_required
def suggestion_draft(request: HtmxHttpRequest) -> HttpResponse:
    """Open the draft rule for one suggested pattern (kind allow or deny)."""
    agent = get_object_or_404(Agent.objects.select_related("active_envelope"), name=request.GET.get("agent", ""))
    action, resource, kind = request.GET.get("action", ""), request.GET.get("resource", ""), request.GET.get("kind")
    if not action or len(action) > 200 or len(resource) > 500 or kind not in ("allow", "deny"):
        messages.error(request, "A suggestion needs agent, action, resource and kind (allow or deny).")
        return render(request, "adminui/authoring_problem.html", status=400)
    try:
        if kind == "allow":
            params = {}
            amount = request.GET.get("amount", "")
            if amount:
                try:
                    params["amount"] = float(amount)
                except ValueError:
                    messages.error(request, "amount must be a number")
                    return render(request, "adminui/authoring_problem.html", status=400)
            source = allow_draft(agent=agent, action=action, resource=resource, params=params, capability=None,
                                 name="suggested-allow")
        else:
            source = deny_draft(agent=agent, action=action, resource=resource, name="suggested-deny")
    except TemplateError as exc:
        messages.error(request, str(exc))
        return render(request, "adminui/authoring_problem.html", status=409)
    return _draft_page(request, agent, source, origin=f"suggestion: {kind} {action} on {resource}")


def _bounded_int(raw, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(raw), low), high)
    except (TypeError, ValueError):
        return default
