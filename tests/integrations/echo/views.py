from django.contrib.auth import get_user_model
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from approvals.services import approval_decide
from governance.errors import AirlockError


@csrf_exempt  # test-only: a real channel verifies its sender (Slack: the request signature)
@require_POST
def vote(request: HttpRequest, request_id) -> JsonResponse:
    user = get_user_model().objects.get(username=request.POST["user"])
    try:
        outcome = approval_decide(request_id=request_id, user=user, choice=request.POST["choice"], via="echo")
    except AirlockError as exc:
        return JsonResponse({"error": exc.code}, status=exc.status)
    return JsonResponse({"status": outcome.request.status})
