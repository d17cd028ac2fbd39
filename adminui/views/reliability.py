"""The agent page's shadow card (polled while open, so the matrix is live), and the admin's
actions on a shadow: promote it to active, or discard it."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from adminui.access import HtmxHttpRequest, admin_required
from adminui.reliability import shadow_card
from governance.errors import AirlockError
from governance.models import Agent
from governance.shadow import shadow_discard, shadow_promote


@require_GET
@admin_required
@never_cache
def agent_shadow(request: HtmxHttpRequest, name: str) -> HttpResponse:
    agent = get_object_or_404(Agent, name=name)
    return render(request, "adminui/_shadow.html", {"agent": agent, "shadow": shadow_card(agent)})


def _shadow_action(request: HtmxHttpRequest, name: str, action, done: str) -> HttpResponse:
    agent = get_object_or_404(Agent, name=name)
    error = ""
    try:
        envelope = action(agent=agent, by=request.user)
    except AirlockError as exc:
        error = exc.message
    agent.refresh_from_db()
    status = 409 if error else 200
    if request.htmx:
        context = {"agent": agent, "shadow": shadow_card(agent), "shadow_error": error,
                   "shadow_done": "" if error else done.format(version=envelope.version)}
        return render(request, "adminui/_shadow.html", context, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done.format(version=envelope.version))
    return redirect("adminui:agent", name=agent.name)


@require_POST
@admin_required
def agent_shadow_promote(request: HtmxHttpRequest, name: str) -> HttpResponse:
    return _shadow_action(request, name, shadow_promote, "Shadow v{version} is now the active envelope.")


@require_POST
@admin_required
def agent_shadow_discard(request: HtmxHttpRequest, name: str) -> HttpResponse:
    return _shadow_action(request, name, shadow_discard, "Shadow v{version} discarded; the active envelope is unchanged.")
