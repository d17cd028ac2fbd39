"""The baseline of bench/decide_http.py: the least a decide endpoint could do.

It authenticates the agent's bearer token exactly as the API does (prefix lookup, SHA-256
compared in constant time) and INSERTs one DecisionRequest row in one transaction.
Mounted at /bench/baseline by bench/urls.py, which only bench/settings.py loads, so
production never exposes it.
"""

import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from api.auth import agent_for_token, bearer
from governance.models import DecisionRequest


@csrf_exempt
@require_POST
def baseline_view(request: HttpRequest) -> JsonResponse:
    token = bearer(request)
    agent = agent_for_token(token) if token else None
    if agent is None:
        return JsonResponse({"error": {"code": "unauthorized", "message": "unknown or revoked token"}}, status=401)
    try:
        body = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": {"code": "malformed_json", "message": "not JSON"}}, status=400)
    if not isinstance(body, dict):
        return JsonResponse({"error": {"code": "invalid_request", "message": "not an object"}}, status=400)
    with transaction.atomic():
        row = DecisionRequest.objects.create(
            agent=agent,
            # Its own action, so the rows never count towards the decide path's windows.
            action="bench.baseline",
            resource="bench:baseline",
            params=body.get("params") or {},
            context=body.get("context") or {},
            digest="",
            decision="allow",
            status="allowed",
            reasons=[],
            risk={},
            created_at=timezone.now(),
        )
    return JsonResponse({"id": str(row.id), "decision": row.decision})
