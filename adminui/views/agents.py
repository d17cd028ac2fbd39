"""Agents: the list with health at a glance, one agent's page, and the actions on it."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from adminui.access import HtmxHttpRequest, admin_required
from adminui.forms import AgentCreateForm, ReasonForm
from adminui.reliability import shadow_card
from adminui.selectors import agent_history, agent_mode, agents_overview
from governance import agents as agent_services
from governance.breaker import breaker_reset
from governance.errors import AirlockError
from governance.models import Agent
from governance.services import agent_create, agent_token_rotate


def _no_store(response: HttpResponse) -> HttpResponse:
    """Pages that show a secret once must not be kept by the browser or a proxy."""
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@admin_required
@never_cache
def agents(request: HtmxHttpRequest) -> HttpResponse:
    form = AgentCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        agent, token = agent_create(
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            callback_url=form.cleaned_data["callback_url"],
            by=request.user,
        )
        return _no_store(render(request, "adminui/agent_created.html", {"agent": agent, "token": token}))
    context = {"rows": agents_overview(now=timezone.now()), "form": form, "show_form": request.method == "POST"}
    return render(request, "adminui/agents.html", context, status=400 if form.errors else 200)


@admin_required
def agent_detail(request: HtmxHttpRequest, name: str) -> HttpResponse:
    agent = get_object_or_404(Agent.objects.select_related("active_envelope"), name=name)
    return render(request, "adminui/agent_detail.html", _detail_context(agent))


def _detail_context(agent: Agent, **extra) -> dict:
    mode, why = agent_mode(agent)
    history = agent_history(agent=agent, now=timezone.now())
    return {"agent": agent, "mode": mode, "mode_why": why, "history": history, "shadow": shadow_card(agent), **extra}


@require_POST
@admin_required
def agent_rotate(request: HtmxHttpRequest, name: str) -> HttpResponse:
    agent = get_object_or_404(Agent, name=name)
    token = agent_token_rotate(agent=agent, by=request.user)
    if request.htmx:
        context = _detail_context(agent, token=token)
        return _no_store(render(request, "adminui/agent_detail.html#tokens", context))
    return _no_store(render(request, "adminui/agent_created.html", {"agent": agent, "token": token, "rotated": True}))


def _status_action(request: HtmxHttpRequest, name: str, action, done: str) -> HttpResponse:
    agent = get_object_or_404(Agent, name=name)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    error = ""
    try:
        action(agent=agent, by=request.user, reason=reason)
    except AirlockError as exc:
        error = exc.message
    agent.refresh_from_db()
    if request.htmx:
        context = _detail_context(agent, status_error=error, status_done="" if error else done)
        return render(request, "adminui/agent_detail.html#status", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect("adminui:agent", name=agent.name)


def _breaker_reset(*, agent: Agent, by, reason: str) -> None:
    breaker_reset(agent=agent, by=by)


@require_POST
@admin_required
def agent_breaker_reset(request: HtmxHttpRequest, name: str) -> HttpResponse:
    return _status_action(request, name, _breaker_reset, "Breaker reset: the agent is back in its envelope's mode.")


@require_POST
@admin_required
def agent_suspend(request: HtmxHttpRequest, name: str) -> HttpResponse:
    return _status_action(request, name, agent_services.agent_suspend, "Suspended: every request is denied.")


@require_POST
@admin_required
def agent_resume(request: HtmxHttpRequest, name: str) -> HttpResponse:
    return _status_action(request, name, agent_services.agent_resume, "Resumed.")
