"""A person's own settings: "away until" (hand approvals to a delegate) and which channels may
notify them. Ordinary POSTs with CSRF; the changes go through the approvals services, audited."""

from datetime import UTC, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from approvals.preferences import channels, muted_channels, preferences_set
from approvals.routing import delegation_active, delegation_clear, delegation_set
from governance.actors import audit_actor
from governance.errors import InvalidInput
from shared.http import HtmxHttpRequest


def _until(value: str) -> datetime:
    """An ISO time; without a zone (a datetime-local field) it is read as UTC, as labelled."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput("until: give a date and time, e.g. 2026-12-24T18:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@require_GET
@login_required
def me(request: HtmxHttpRequest) -> HttpResponse:
    muted = set(muted_channels(request.user))
    context = {
        "delegation": delegation_active(request.user),
        "channels": [{"name": n, "label": label, "on": n not in muted} for n, label in channels().items()],
    }
    return render(request, "approvals/me.html", context)


@require_POST
@login_required
def away(request: HtmxHttpRequest) -> HttpResponse:
    try:
        if request.POST.get("clear"):
            delegation_clear(user=request.user, by=audit_actor(request.user))
            messages.success(request, "You are back: your approvals are no longer delegated.")
        else:
            row = delegation_set(
                user=request.user, delegate=request.POST.get("delegate", "").strip(),
                until=_until(request.POST.get("until", "")), by=audit_actor(request.user),
            )
            messages.success(request, f"{row.delegate.get_username()} answers for you until {row.until:%Y-%m-%d %H:%M} UTC.")
    except InvalidInput as exc:
        messages.error(request, str(exc))
        return render(request, "approvals/me.html", {
            "delegation": delegation_active(request.user),
            "channels": [{"name": n, "label": label, "on": n not in set(muted_channels(request.user))}
                         for n, label in channels().items()],
        }, status=400)
    return redirect("me")


@require_POST
@login_required
def notifications(request: HtmxHttpRequest) -> HttpResponse:
    wanted = set(request.POST.getlist("channel"))
    muted = [name for name in channels() if name not in wanted]
    preferences_set(user=request.user, muted=muted, by=audit_actor(request.user))
    messages.success(request, "Notification settings saved.")
    return redirect("me")
