"""Approver API for the inbox (issue 12): extend a deadline, and batch votes.

POST /api/v1/escalations/{id}/extend  {"by": "10m", "comment": "..."}
POST /api/v1/escalations/batch        {"ids": [...], "choice": "approve"|"deny", "comment": "..."}

People only (a personal token or a session with CSRF), like approve/deny: agent tokens get 403.
Each vote of a batch goes through the same service as a single vote, in its own transaction,
so one refusal never blocks the others.
"""


from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from api.auth import IsPerson
from api.escalations import _AUTH
from api.serializers import (
    ErrorSerializer,
    RequestOutputSerializer,
    StrictCharField,
    StrictSerializer,
)
from approvals.batch import MAX_BATCH, batch_vote
from approvals.extend import escalation_extend
from approvals.services import MAX_COMMENT
from governance.models import DecisionRequest
from governance.representations import request_json


class ExtendInputSerializer(StrictSerializer):
    by = serializers.JSONField(help_text='how much longer: "10m", "90s", "1h" or seconds')
    comment = StrictCharField(required=False, allow_blank=True, max_length=MAX_COMMENT, default="",
                              trim_whitespace=False)


@extend_schema(
    operation_id="escalation_extend",
    request=ExtendInputSerializer,
    responses={
        200: OpenApiResponse(RequestOutputSerializer, description="the new deadline is the request's expires_at"),
        400: OpenApiResponse(ErrorSerializer, description="malformed, or beyond the envelope's max_extension "
                             "(extension_too_long)"),
        401: OpenApiResponse(ErrorSerializer, description="no or bad credentials"),
        403: OpenApiResponse(ErrorSerializer, description="not eligible, or an agent token"),
        404: OpenApiResponse(ErrorSerializer, description="no such escalation"),
        409: OpenApiResponse(ErrorSerializer, description="no longer pending"),
    },
    description="Push a pending escalation's deadline out. In total at most the envelope's `max_extension` "
    "(default: one `escalation_ttl`). Audited (`escalation.extended`).",
    tags=["approvals"],
)
@api_view(["POST"])
@authentication_classes(_AUTH)
@permission_classes([IsPerson])
def extend_view(request: Request, request_id) -> Response:
    serializer = ExtendInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    escalation_extend(request_id=request_id, user=request.user, by=serializer.validated_data["by"],
                      comment=serializer.validated_data["comment"])
    return Response(request_json(DecisionRequest.objects.get(pk=request_id)))


class BatchInputSerializer(StrictSerializer):
    ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=MAX_BATCH)
    choice = serializers.ChoiceField(["approve", "deny"])
    comment = StrictCharField(required=False, allow_blank=True, max_length=MAX_COMMENT, default="",
                              trim_whitespace=False)


class BatchErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class BatchResultSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    ok = serializers.BooleanField()
    status = serializers.CharField(required=False)
    error = BatchErrorSerializer(required=False)


class BatchOutputSerializer(serializers.Serializer):
    results = BatchResultSerializer(many=True)


@extend_schema(
    operation_id="escalation_batch",
    request=BatchInputSerializer,
    responses={
        200: OpenApiResponse(BatchOutputSerializer, description="one result per id, in order"),
        400: OpenApiResponse(ErrorSerializer, description="malformed body"),
        401: OpenApiResponse(ErrorSerializer, description="no or bad credentials"),
        403: OpenApiResponse(ErrorSerializer, description="an agent token"),
    },
    description=f"Approve or deny up to {MAX_BATCH} escalations with one comment. Each vote goes through the "
    "same service as a single one; a refused vote is reported in its result and never blocks the others.",
    tags=["approvals"],
)
@api_view(["POST"])
@authentication_classes(_AUTH)
@permission_classes([IsPerson])
def batch_view(request: Request) -> Response:
    serializer = BatchInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return Response({"results": batch_vote(ids=data["ids"], user=request.user, choice=data["choice"],
                                           comment=data["comment"], via="api")})
