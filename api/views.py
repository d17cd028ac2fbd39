"""Agent API v1: decide, read a request, verify. Thin: validate, call a service, present."""

import functools
import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from api.auth import (
    AGENT_KIND,
    AgentPrincipal,
    AgentTokenAuthentication,
    IsAgent,
    agent_for_token_checked,
    bearer,
)
from api.errors import exception_handler
from api.parsers import json_strict_loads
from api.serializers import (
    DecideInputSerializer,
    DecisionOutputSerializer,
    ErrorSerializer,
    RequestOutputSerializer,
    VerifyInputSerializer,
    VerifyOutputSerializer,
    decide_input,
)
from governance.decide import DecideInput, decide
from governance.errors import NotFound
from governance.models import DecisionRequest
from governance.representations import decision_json, request_json
from governance.verify import request_verify

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="malformed body"),
    401: OpenApiResponse(ErrorSerializer, description="no, unknown or revoked token"),
    413: OpenApiResponse(ErrorSerializer, description="body too large"),
}


@extend_schema(
    operation_id="decide",
    request=DecideInputSerializer,
    responses={200: DecisionOutputSerializer, **ERRORS, 503: OpenApiResponse(ErrorSerializer, description="cannot evaluate: deny")},
    description="Ask before acting. Answers allow, deny or escalate. Any failure to evaluate is a deny.",
)
@api_view(["POST"])
@authentication_classes([AgentTokenAuthentication])
@permission_classes([IsAgent])
def decide_view(request: Request) -> Response:
    validated = decide_input(request.data)
    if validated is None:  # anything unusual: the serializer decides, and words the error
        serializer = DecideInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        validated = serializer.validated_data
    row, _created = decide(agent=request.user.agent, data=DecideInput(**validated))
    return Response(decision_json(row))


_drf_decide_view = decide_view


@csrf_exempt
@functools.wraps(_drf_decide_view)  # keeps .cls and the schema: OpenAPI still documents the DRF view
def decide_view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """POST /api/v1/decide. The bodies agents send (JSON, a valid agent token, a plain body that
    decide_input accepts) are answered here without DRF's request/response machinery, which
    cost more CPU than a bare endpoint's whole request (bench/decide_http.py). Anything else
    (another method or media type, a missing or bad token, a body to refuse) goes to the DRF
    view above, unchanged, which answers and words every error as before. Nothing is written
    before that choice is made, so a request is never decided twice."""
    token = _fast_candidate_token(request)
    if token is None:
        return _drf_decide_view(request, *args, **kwargs)
    try:
        agent = agent_for_token_checked(token)  # Unavailable when it cannot be checked
        validated = _plain_body(request) if agent is not None else None
        if validated is None:
            return _drf_decide_view(request, *args, **kwargs)
        request.user = AgentPrincipal(agent)
        row, _created = decide(agent=agent, data=DecideInput(**validated))
        status, body, headers = 200, decision_json(row), {}
    except Exception as exc:  # noqa: BLE001 - exactly what the DRF view answers (api/errors.py)
        answer = exception_handler(exc, {"request": request})
        status, body = answer.status_code, answer.data
        headers = {k: v for k, v in answer.items() if k.lower() != "content-type"}  # WWW-Authenticate, ...
    # As DRF's JSONRenderer writes it (compact, UTF-8, U+2028/9 escaped) with the headers DRF adds.
    text = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    response = HttpResponse(
        text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode(),
        status=status, content_type="application/json",
    )
    for name, value in {**headers, "Allow": _ALLOW}.items():
        response[name] = value
    response.data = body  # as on DRF's Response: the metrics and tracing middleware read it
    return response


# The Allow header DRF sends for the view (its order is the view's, which DRF builds from a set).
_ALLOW = ", ".join(_drf_decide_view.cls().allowed_methods)


def _fast_candidate_token(request: HttpRequest) -> str | None:
    """The agent token of a POST of plain JSON accepting JSON (what agents send); None for
    anything else."""
    if request.method != "POST" or request.content_type != "application/json" or request.content_params:
        return None
    if request.META.get("HTTP_ACCEPT", "*/*") not in ("*/*", "application/json"):
        return None
    if not request.META.get("CONTENT_LENGTH", "").isdigit():
        return None  # no Content-Length (chunked): DRF reads no body, and answers that
    token = bearer(request)
    return token if token is not None and token.startswith(f"{AGENT_KIND}_") else None


def _plain_body(request: HttpRequest) -> dict | None:
    """The validated body when decide_input accepts it; None for anything DRF must answer."""
    try:
        data = json_strict_loads(request.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None  # the DRF view's parser meets the same failure and words it
    return decide_input(data)


def request_for_agent(agent, request_id) -> DecisionRequest:
    row = DecisionRequest.objects.filter(pk=request_id, agent=agent).first()
    if row is None:
        # Another agent's request is indistinguishable from a missing one.
        raise NotFound("no such request")
    return row


@extend_schema(
    operation_id="request_read",
    parameters=[OpenApiParameter("wait", {"type": "integer", "minimum": 0, "maximum": 60},
                                 description="long-poll up to this many seconds (0-60, ASCII digits)")],
    responses={200: RequestOutputSerializer, 400: OpenApiResponse(ErrorSerializer, description="bad wait"),
               401: ERRORS[401], 404: OpenApiResponse(ErrorSerializer)},
    description="The agent's own request. With `wait`, returns as soon as it leaves pending, at its "
    "deadline (as expired), or after `wait` seconds; no thread or DB connection is held while waiting.",
)
@api_view(["GET"])
@authentication_classes([AgentTokenAuthentication])
@permission_classes([IsAgent])
def request_view(request: Request, request_id) -> Response:
    return Response(request_json(request_for_agent(request.user.agent, request_id)))


@extend_schema(
    operation_id="verify",
    request=VerifyInputSerializer,
    responses={200: VerifyOutputSerializer, **ERRORS},
    description="Is exactly this action (same digest) allowed or approved now? Consumes a single-use approval.",
)
@api_view(["POST"])
@authentication_classes([AgentTokenAuthentication])
@permission_classes([IsAgent])
def verify_view(request: Request) -> Response:
    serializer = VerifyInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    verdict = request_verify(
        agent=request.user.agent, request_id=data["id"], action=data["action"],
        resource=data["resource"], params=data["params"],
    )
    return Response({"valid": verdict.valid, "status": verdict.status, "reason": verdict.reason})


