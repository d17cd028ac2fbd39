"""Who may use the admin UI: staff only. Anonymous people are sent to log in; signed-in
people without staff rights (approvers, outsiders) get a plain 403 page."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from shared.http import HtmxHttpRequest

__all__ = ["HtmxHttpRequest", "admin_required"]

View = Callable[..., HttpResponse]


def admin_required(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            return render(request, "adminui/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper
