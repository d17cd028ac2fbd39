"""Slack's interactivity endpoint. Slack wants an answer within 3 seconds: this view verifies,
parses, records the vote (one short transaction) and returns; any Slack call goes to Celery."""

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.slack import client
from integrations.slack.interactions import WorkspaceUnknown, WrongWorkspace, workspace_check
from integrations.slack.tasks import click_handle

logger = logging.getLogger("airlock.slack")


@csrf_exempt  # Slack cannot send a CSRF token; its request signature stands in for it
@require_POST
def interactions(request: HttpRequest) -> HttpResponse:
    """POST /slack/interactions/: Approve / Deny clicks from Slack."""
    if not settings.SLACK_ENABLED:
        return HttpResponse("Slack is not configured", status=404, content_type="text/plain")
    body = request.body  # the raw bytes Slack signed; read before request.POST parses them
    if not client.signature_valid(body, request.headers):
        logger.warning("slack interaction with a bad signature or stale timestamp from %s", request.META.get("REMOTE_ADDR"))
        return HttpResponse("invalid signature", status=401, content_type="text/plain")
    click = client.click_parse(request.POST.get("payload", ""))
    if click is not None:
        try:
            workspace_check(click)
        except WrongWorkspace:
            return HttpResponse("request from another Slack workspace", status=403, content_type="text/plain")
        except WorkspaceUnknown:
            return HttpResponse("Airlock cannot verify the Slack workspace right now; nothing was recorded",
                                status=503, content_type="text/plain")
        result = click_handle(click)
        logger.info("slack click %s %s by %s: %s", click.choice, click.request_id, click.slack_user_id, result)
    # An empty 200 acknowledges; the message itself changes through chat.update.
    return HttpResponse(status=200)
