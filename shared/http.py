"""Typing for views behind django-htmx's middleware (the web queue and the admin UI)."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """HttpRequest as django-htmx's middleware leaves it."""

    htmx: HtmxDetails
