"""Every API error is {"error": {"code": ..., "message": ...}} with the right status."""

import logging

from django.http import Http404, JsonResponse
from django.views.defaults import bad_request, page_not_found, permission_denied, server_error
from rest_framework import exceptions
from rest_framework.response import Response

from api.body_limit import unavailable_body
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
    request = context.get("request")
    return Response(unexpected_error_body(exc, request), status=503)


def unexpected_error_body(exc: BaseException, request=None) -> dict:
    """Log an unexpected failure with its context; the API's answer is a 503 deny."""
    user = getattr(request, "user", None) if request is not None else None
    logger.error(
        "unhandled %s under the API; answering 503 deny", type(exc).__name__,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"path": getattr(request, "path", ""), "method": getattr(request, "method", ""),
               "principal": user.get_username() if getattr(user, "is_authenticated", False) else ""},
    )
    code, message = unavailable_body(exc)
    return {**error_body(code, message), "decision": "deny"}


def json_404(request, exception=None):
    if not request.path.startswith("/api/"):
        return page_not_found(request, exception)
    return JsonResponse(error_body("not_found", "no such resource"), status=404)


def json_400(request, exception=None):
    if not request.path.startswith("/api/"):
        return bad_request(request, exception)
    return JsonResponse(error_body("bad_request", "bad request"), status=400)


def json_403(request, exception=None):
    if not request.path.startswith("/api/"):
        return permission_denied(request, exception)
    return JsonResponse(error_body("forbidden", "forbidden"), status=403)


def json_500(request):
    if not request.path.startswith("/api/"):
        return server_error(request)
    # No evaluation finished, so nothing was allowed: say so explicitly. 503, never 500:
    # the API's contract is that it cannot evaluate, so the answer is deny.
    return JsonResponse({**error_body("server_error", "internal error; treat as deny"), "decision": "deny"}, status=503)
