"""The envelope editor: live validation, diff against the active version, replay preview,
activation; and the read-only version history with YAML export."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from adminui.access import HtmxHttpRequest, admin_required
from adminui.drafts import diff_stats, draft_check, draft_diff
from adminui.explain import explain
from adminui.forms import EnvelopeDraftForm, ReplayForm
from adminui.preview_gate import (
    envelope_activate_unpreviewed,
    preview_receipt,
    preview_receipt_valid,
)
from adminui.replay import replay_preview
from adminui.rule_templates import TEMPLATES
from adminui.starter import starter_envelope
from governance.errors import AirlockError
from governance.models import Agent, Envelope
from governance.services import envelope_apply


def _starter(agent: Agent) -> str:
    """A first envelope for an agent that has none: valid, and denies everything."""
    return starter_envelope(agent.name)


def _posted_source(request: HtmxHttpRequest) -> str:
    # Browsers send textarea lines with CRLF; store what the admin typed, with plain newlines.
    return request.POST.get("source", "").replace("\r\n", "\n")


def _active_source(agent: Agent) -> str:
    return agent.active_envelope.source if agent.active_envelope_id else ""


def _editor_context(agent: Agent, source: str, **extra) -> dict:
    check = draft_check(agent=agent, source=source)
    diff = draft_diff(_active_source(agent), source)
    added, removed = diff_stats(diff)
    last = Envelope.objects.filter(agent=agent).order_by("-version").values_list("version", flat=True).first()
    return {
        "agent": agent,
        "source": source,
        "next_version": (last or 0) + 1,
        "check": check,
        "problem": explain(source, check),
        "templates": [(t, extra.get("template_forms", {}).get(t.slug) or t.form(prefix=t.slug)) for t in TEMPLATES],
        "diff": diff,
        "added": added,
        "removed": removed,
        **extra,
    }


@require_http_methods(["GET", "POST"])
@admin_required
def envelope_edit(request: HtmxHttpRequest, name: str) -> HttpResponse:
    agent = get_object_or_404(Agent.objects.select_related("active_envelope"), name=name)
    if request.method == "GET":
        start = request.GET.get("from", "")
        if start.isdigit():
            source = get_object_or_404(Envelope, agent=agent, version=int(start)).source
        else:
            source = _active_source(agent) or _starter(agent)
        return render(request, "adminui/envelope_edit.html", _editor_context(agent, source, based_on=start))

    form = EnvelopeDraftForm(request.POST)
    source = _posted_source(request)
    comment = request.POST.get("comment", "")
    if not form.is_valid():
        context = _editor_context(agent, source, comment=comment, save_error="The draft is empty.")
        return render(request, "adminui/envelope_edit.html", context, status=400)
    check = draft_check(agent=agent, source=source)
    if not check.ok:
        # Nothing is activated; the draft stays in the form with the error beside it.
        context = _editor_context(agent, source, comment=comment, save_error=check.error)
        return render(request, "adminui/envelope_edit.html", context, status=400)
    if source == _active_source(agent):
        context = _editor_context(agent, source, comment=comment, save_error="No changes against the active version.")
        return render(request, "adminui/envelope_edit.html", context, status=400)
    receipt = request.POST.get("preview", "")
    previewed = preview_receipt_valid(receipt=receipt, agent_name=agent.name, source=source)
    skip_reason = request.POST.get("skip_reason", "").strip()[:500]
    if previewed is None and not (request.POST.get("skip_preview") and skip_reason):
        # The preview is what shows an admin which answers the draft changes; activating
        # blind is allowed only on purpose, with a reason that goes into the audit trail.
        error = (
            "Run the replay preview of this exact draft first, or choose "
            "\u201cActivate without preview\u201d and give a reason."
        )
        context = _editor_context(agent, source, comment=comment, save_error=error)
        return render(request, "adminui/envelope_edit.html", context, status=400)
    try:
        if previewed is None:
            envelope = envelope_activate_unpreviewed(
                source=source, by=request.user, reason=skip_reason, comment=form.cleaned_data["comment"]
            )
        else:
            envelope = envelope_apply(source=source, by=request.user, via="ui", comment=form.cleaned_data["comment"])
    except AirlockError as exc:
        context = _editor_context(agent, source, comment=comment, save_error=exc.message)
        return render(request, "adminui/envelope_edit.html", context, status=400)
    messages.success(request, f"Version {envelope.version} of {agent.name}'s envelope is now active.")
    return redirect("adminui:envelope_version", name=agent.name, version=envelope.version)


@require_POST
@admin_required
def envelope_validate_draft(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """Called as the admin types: the verdict, plus the diff swapped in out of band."""
    agent = get_object_or_404(Agent.objects.select_related("active_envelope"), name=name)
    context = _editor_context(agent, _posted_source(request), oob=True)
    return render(request, "adminui/envelope_edit.html#live", context)


@require_POST
@admin_required
def envelope_replay(request: HtmxHttpRequest, name: str) -> HttpResponse:
    agent = get_object_or_404(Agent.objects.select_related("active_envelope"), name=name)
    form = ReplayForm(request.POST)
    if not form.is_valid():
        return render(request, "adminui/envelope_edit.html#replay", {"agent": agent, "replay_error": _first_error(form)})
    check = draft_check(agent=agent, source=_posted_source(request))
    if not check.ok:
        error = f"Fix the draft first: {check.error}"
        return render(request, "adminui/envelope_edit.html#replay", {"agent": agent, "replay_error": error})
    source = _posted_source(request)
    result = replay_preview(agent=agent, compiled=check.compiled, days=form.cleaned_data["days"])
    receipt = preview_receipt(agent_name=agent.name, source=source, changed=result.changed, replayed=result.replayed)
    last = Envelope.objects.filter(agent=agent).order_by("-version").values_list("version", flat=True).first()
    context = {"agent": agent, "replay": result, "receipt": receipt, "gate_oob": True, "next_version": (last or 0) + 1}
    return render(request, "adminui/envelope_edit.html#replay", context)


def _first_error(form) -> str:
    for field, errors in form.errors.items():
        return f"{field}: {errors[0]}" if field != "__all__" else errors[0]
    return "invalid input"


@admin_required
def envelope_versions(request: HtmxHttpRequest, name: str) -> HttpResponse:
    agent = get_object_or_404(Agent.objects.select_related("active_envelope"), name=name)
    versions = Envelope.objects.filter(agent=agent).select_related("created_by").order_by("-version")
    return render(request, "adminui/envelope_versions.html", {"agent": agent, "versions": versions})


@admin_required
def envelope_version(request: HtmxHttpRequest, name: str, version: int) -> HttpResponse:
    agent = get_object_or_404(Agent.objects.select_related("active_envelope"), name=name)
    envelope = get_object_or_404(Envelope.objects.select_related("created_by"), agent=agent, version=version)
    previous = Envelope.objects.filter(agent=agent, version__lt=version).order_by("-version").first()
    diff = draft_diff(previous.source if previous else "", envelope.source)
    added, removed = diff_stats(diff)
    context = {
        "agent": agent, "envelope": envelope, "previous": previous,
        "diff": diff, "added": added, "removed": removed,
        "is_active": agent.active_envelope_id == envelope.pk,
    }
    return render(request, "adminui/envelope_version.html", context)


@admin_required
def envelope_download(request: HtmxHttpRequest, name: str, version: int) -> HttpResponse:
    """The YAML exactly as applied: re-applies identically with `manage.py envelope_apply`."""
    envelope = get_object_or_404(Envelope, agent__name=name, version=version)
    response = HttpResponse(envelope.source, content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.v{version}.yaml"'
    return response
