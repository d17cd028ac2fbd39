"""The one place that talks to Slack: Web API calls through slack-sdk, request signatures, and
the shape of Slack's interaction payloads. Everything else deals in plain Python values.

Calls here block on the network, so they run only in Celery tasks, never in a web request.
slack-sdk's own in-process retries are switched off: Celery retries with backoff instead, so a
worker never sleeps on Slack and a retry survives a worker restart.
"""

import http.client
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web import SlackResponse

logger = logging.getLogger("airlock.slack")

ACTION_APPROVE = "airlock_approve"
ACTION_DENY = "airlock_deny"
CHOICES = {ACTION_APPROVE: "approve", ACTION_DENY: "deny"}


class SlackFailure(Exception):
    """A Slack API call did not succeed. `error` is Slack's error code ("ratelimited",
    "channel_not_found", "http_500", "connection"...); `retry_after` is Slack's Retry-After."""

    def __init__(self, message: str, error: str = "unknown", status: int | None = None, retry_after: float | None = None):
        # All values in args, so the exception pickles (Celery stores it with each retry).
        super().__init__(message, error, status, retry_after)
        self.error = error
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class Click:
    """An Approve or Deny button pressed in Slack, as far as Airlock cares."""

    request_id: str
    choice: str  # "approve" | "deny"
    slack_user_id: str
    team_id: str
    channel_id: str
    message_ts: str

    def as_dict(self) -> dict:
        return asdict(self)


def _web() -> WebClient:
    return WebClient(
        token=settings.SLACK_BOT_TOKEN,
        base_url=settings.SLACK_API_URL,
        timeout=settings.SLACK_TIMEOUT,
        retry_handlers=[],
    )


def _retry_after(response: SlackResponse) -> float | None:
    headers = {k.lower(): v for k, v in (response.headers or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _call(method: str, send: Callable[[WebClient], SlackResponse]) -> dict:
    """One Web API call; every way it can fail becomes SlackFailure."""
    try:
        response = send(_web())
    except SlackApiError as exc:
        response = exc.response
        status = response.status_code
        data = response.data if isinstance(response.data, dict) else {}
        error = "ratelimited" if status == 429 else (data.get("error") or f"http_{status}")
        raise SlackFailure(
            f"{method}: {error} (HTTP {status})", error=error, status=status, retry_after=_retry_after(response)
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        # URLError, connection refused/reset, socket timeouts: Slack unreachable.
        raise SlackFailure(f"{method}: {type(exc).__name__}: {exc}", error="connection") from None
    return response.data if isinstance(response.data, dict) else {}


def message_post(*, channel: str, text: str, blocks: list[dict], thread_ts: str | None = None) -> tuple[str, str]:
    """chat.postMessage (a reply in a thread with thread_ts); returns (channel id, message ts) —
    the pair chat.update needs."""
    extra = {"thread_ts": thread_ts, "reply_broadcast": True} if thread_ts else {}
    data = _call(
        "chat.postMessage",
        lambda web: web.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False, **extra),
    )
    return str(data.get("channel") or channel), str(data["ts"])


def message_update(*, channel: str, ts: str, text: str, blocks: list[dict]) -> None:
    """chat.update: replace a message Airlock posted earlier."""
    _call("chat.update", lambda web: web.chat_update(channel=channel, ts=ts, text=text, blocks=blocks))


def ephemeral_post(*, channel: str, user: str, text: str) -> None:
    """chat.postEphemeral: a message only `user` sees, in the channel they clicked in."""
    _call("chat.postEphemeral", lambda web: web.chat_postEphemeral(channel=channel, user=user, text=text))


def user_email(slack_user_id: str) -> str | None:
    """The verified email of a Slack user (users.info; needs users:read.email), None when Slack
    does not know the user or shares no email for them (bots, restricted profiles)."""
    try:
        data = _call("users.info", lambda web: web.users_info(user=slack_user_id))
    except SlackFailure as exc:
        if exc.error in ("user_not_found", "user_not_visible"):
            return None
        raise
    user = data.get("user") or {}
    if user.get("deleted") or user.get("is_bot"):
        return None
    email = (user.get("profile") or {}).get("email") or ""
    return email.strip() or None


def bot_team_id() -> str:
    """auth.test: the id of the workspace the bot token belongs to."""
    data = _call("auth.test", lambda web: web.auth_test())
    team_id = data.get("team_id")
    if not isinstance(team_id, str) or not team_id:
        raise SlackFailure("auth.test: no team_id in the answer", error="no_team_id")
    return team_id


def signature_valid(body: bytes, headers: Mapping[str, str]) -> bool:
    """Slack's v0 signature over the raw body, and a timestamp within 5 minutes of now
    (replays of an old, correctly signed request fail here)."""
    try:
        return SignatureVerifier(settings.SLACK_SIGNING_SECRET).is_valid_request(body, dict(headers))
    except ValueError:  # a timestamp header that is not a number
        return False


def click_parse(payload: str) -> Click | None:
    """The Approve/Deny click in a form-encoded `payload`, or None for anything else Slack sends."""
    try:
        data = json.loads(payload)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("type") != "block_actions":
        return None
    action = next(
        (a for a in data.get("actions") or [] if isinstance(a, dict) and a.get("action_id") in CHOICES),
        None,
    )
    user = data.get("user") or {}
    if action is None or not isinstance(user, dict) or not user.get("id"):
        return None
    try:
        request_id = str(uuid.UUID(str(action.get("value", ""))))
    except ValueError:
        return None
    channel = data.get("channel") or {}
    container = data.get("container") or {}
    return Click(
        request_id=request_id,
        choice=CHOICES[action["action_id"]],
        slack_user_id=str(user["id"]),
        team_id=str((data.get("team") or {}).get("id") or user.get("team_id") or ""),
        channel_id=str(channel.get("id") or container.get("channel_id") or ""),
        message_ts=str(container.get("message_ts") or ""),
    )
