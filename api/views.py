"""Agent API v1: decide, read a request, verify. Thin: validate, call a service, present."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from api.auth import AgentTokenAuthentication, IsAgent
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


