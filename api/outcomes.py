"""POST /api/v1/requests/{id}/outcome: the agent reports what happened after it acted."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from api.auth import AgentTokenAuthentication, IsAgent
from api.serializers import ErrorSerializer, OutcomeInputSerializer, RequestOutputSerializer
from governance.outcomes import outcome_report
from governance.representations import request_json


@extend_schema(
    operation_id="outcome_report",
    request=OutcomeInputSerializer,
    responses={
        200: RequestOutputSerializer,
        400: OpenApiResponse(ErrorSerializer, description="malformed body or unknown status"),
        401: OpenApiResponse(ErrorSerializer, description="no, unknown or revoked token"),
        404: OpenApiResponse(ErrorSerializer, description="no such request (or another agent's)"),
        409: OpenApiResponse(ErrorSerializer, description="outcome_exists, or not_executable (not allowed/approved)"),
    },
    description="Report the outcome of an allowed or approved request, once: succeeded, failed or rolled_back.",
)
@api_view(["POST"])
@authentication_classes([AgentTokenAuthentication])
@permission_classes([IsAgent])
def outcome_view(request: Request, request_id) -> Response:
    serializer = OutcomeInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    row = outcome_report(
        agent=request.user.agent, request_id=request_id,
        status=data["status"], detail=data["detail"], effects=data["effects"],
    )
    return Response(request_json(row))
