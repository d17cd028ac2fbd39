"""Approver API: POST /api/v1/escalations/{id}/approve | deny, for people only.

Authentication: a personal token (`Authorization: Bearer alp_...`) or a Django session with
CSRF. Agent tokens authenticate (so a bad one is still 401) and are then refused with 403:
an agent can never approve anything, not even its own request.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import authentication, serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from api.auth import AgentTokenAuthentication, IsPerson, PersonalTokenAuthentication
from api.serializers import (
    BoundedObjectField,
    ErrorSerializer,
    RequestOutputSerializer,
    StrictCharField,
    StrictSerializer,
)
from approvals.services import MAX_COMMENT, Outcome, approval_decide
from governance.representations import request_json


class ApprovalInputSerializer(StrictSerializer):
    comment = StrictCharField(required=False, allow_blank=True, max_length=MAX_COMMENT, default="",
                              trim_whitespace=False)


class ApproveInputSerializer(ApprovalInputSerializer):
    params = BoundedObjectField(required=False, default=None, allow_null=True,
                                help_text="Approve with edits: these params instead of the asked ones. "
                                "They must pass the capability's params_schema and deny_when (else 400 edit_denied).")


class QuorumSerializer(serializers.Serializer):
    required = serializers.IntegerField()
    approvals = serializers.IntegerField()


class VoteSerializer(serializers.Serializer):
    by = serializers.CharField()
    choice = serializers.ChoiceField(["approve", "deny"])
    via = serializers.CharField()


class ApprovalOutputSerializer(RequestOutputSerializer):
    quorum = QuorumSerializer()
    vote = VoteSerializer()


def outcome_json(outcome: Outcome) -> dict:
    return {
        **request_json(outcome.request),
        "quorum": {"required": outcome.quorum, "approvals": outcome.approvals_count},
        "vote": {"by": outcome.vote.user.get_username(), "choice": outcome.vote.choice, "via": outcome.vote.via},
    }


def _schema(choice: str):
    return extend_schema(
        operation_id=f"escalation_{choice}",
        request=ApproveInputSerializer if choice == "approve" else ApprovalInputSerializer,
        responses={
            200: OpenApiResponse(ApprovalOutputSerializer, description="the vote counted"),
            400: OpenApiResponse(ErrorSerializer, description="malformed body; comment_required (risk at or above "
                                 "the envelope's comment_required_at_risk)" + ("; edit_denied" if choice == "approve" else "")),
            401: OpenApiResponse(ErrorSerializer, description="no or bad credentials"),
            403: OpenApiResponse(ErrorSerializer, description="not eligible, an agent token, or CSRF failure"),
            404: OpenApiResponse(ErrorSerializer, description="no such escalation"),
            409: OpenApiResponse(ErrorSerializer, description="already decided (or already voted)"),
        },
        description=(
            f"{choice.capitalize()} an escalation (`id` is the request id decide returned). "
            + ("Any eligible deny rejects at once." if choice == "deny"
               else "Approved once the quorum of different people approve.")
            + " For people only: a personal token or a session with CSRF; agent tokens get 403."
        ),
        tags=["approvals"],
    )


def _vote(request: Request, request_id, choice: str) -> Response:
    serializer = (ApproveInputSerializer if choice == "approve" else ApprovalInputSerializer)(data=request.data)
    serializer.is_valid(raise_exception=True)
    outcome = approval_decide(
        request_id=request_id, user=request.user, choice=choice,
        comment=serializer.validated_data["comment"], via="api",
        params=serializer.validated_data.get("params"),
    )
    return Response(outcome_json(outcome))


_AUTH = [PersonalTokenAuthentication, AgentTokenAuthentication, authentication.SessionAuthentication]


@_schema("approve")
@api_view(["POST"])
@authentication_classes(_AUTH)
@permission_classes([IsPerson])
def approve_view(request: Request, request_id) -> Response:
    return _vote(request, request_id, "approve")


@_schema("deny")
@api_view(["POST"])
@authentication_classes(_AUTH)
@permission_classes([IsPerson])
def deny_view(request: Request, request_id) -> Response:
    return _vote(request, request_id, "deny")
