"""Every API error is {"error": {"code": ..., "message": ...}} with the right status."""

import logging

from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found, server_error
from rest_framework import exceptions
from rest_framework.response import Response

from governance.errors import AirlockError

logger = logging.getLogger("airlock.api")

_DRF_CODES = {
    exceptions.ParseError: (400, "malformed_json"),
    exceptions.AuthenticationFailed: (401, "unauthorized"),
    exceptions.NotAuthenticated: (401, "unauthorized"),
    exceptions.PermissionDenied: (403, "forbidden"),
    exceptions.NotFound: (404, "not_found"),
    exceptions.MethodNotAllowed: (405, "method_not_allowed"),
    exceptions.NotAcceptable: (406, "not_acceptable"),
    exceptions.UnsupportedMediaType: (415, "unsupported_media_type"),
    exceptions.Throttled: (429, "throttled"),
}


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def _first_validation_message(detail, path: str = "") -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            where = key if key != "non_field_errors" else ""
            return _first_validation_message(value, f"{path}.{where}".strip(".") if where else path)
    if isinstance(detail, list) and detail:
        return _first_validation_message(detail[0], path)
    return f"{path}: {detail}" if path else str(detail)


def exception_handler(exc, context):
    headers = {}
    if isinstance(exc, AirlockError):
        status, body = exc.status, error_body(exc.code, exc.message)
        if exc.status == 503:
            body["decision"] = "deny"
        return Response(body, status=status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.ValidationError):
        return Response(error_body("invalid_request", _first_validation_message(exc.detail)), status=400)
    for kind, (status, code) in _DRF_CODES.items():
        if isinstance(exc, kind):
            if isinstance(exc, exceptions.Throttled) and exc.wait:
                headers["Retry-After"] = str(int(exc.wait))
            if status == 401:
                headers["WWW-Authenticate"] = 'Bearer realm="airlock"'
            return Response(error_body(code, str(exc.detail)), status=status, headers=headers)
    if isinstance(exc, exceptions.APIException):
        return Response(error_body(exc.default_code, str(exc.detail)), status=exc.status_code)
    return None  # unexpected: Django's 500 handler answers in JSON for /api/


def json_404(request, exception=None):
    if not request.path.startswith("/api/"):
        return page_not_found(request, exception)
    return JsonResponse(error_body("not_found", "no such resource"), status=404)


def json_500(request):
    if not request.path.startswith("/api/"):
        return server_error(request)
    # No evaluation finished, so nothing was allowed: say so explicitly.
    return JsonResponse({**error_body("server_error", "internal error; treat as deny"), "decision": "deny"}, status=500)
