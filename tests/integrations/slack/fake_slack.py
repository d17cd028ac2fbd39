"""A fake Slack Web API: a real HTTP server on 127.0.0.1 that slack-sdk's WebClient talks to
through SLACK_API_URL. It implements the methods Airlock uses, checks the bot token and
the Block Kit limits Slack enforces, and can be scripted to fail (429 + Retry-After, 5xx, slow
answers, Slack error codes) so tests see exactly what a worker would.
"""

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Call:
    method: str
    args: dict
    at: float  # time.monotonic()
    status: int = 200


@dataclass
class Failure:
    status: int = 500
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    html: bool = False


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list
    history: list = field(default_factory=list)  # earlier versions, oldest first


class BlockKitError(ValueError):
    pass


def check_blocks(blocks) -> None:
    """The limits Slack answers `invalid_blocks` for, as far as Airlock's messages go."""
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
        raise BlockKitError("blocks must be a list of 1..50")
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            text = block["text"]
            if text["type"] != "plain_text" or len(text["text"]) > 150:
                raise BlockKitError("header text must be plain_text <= 150")
        elif kind == "section":
            fields = block.get("fields") or []
            if len(fields) > 10 or any(len(f["text"]) > 2000 for f in fields):
                raise BlockKitError("section fields: at most 10, each <= 2000")
            if "text" in block and len(block["text"]["text"]) > 3000:
                raise BlockKitError("section text <= 3000")
            if "text" not in block and not fields:
                raise BlockKitError("section needs text or fields")
        elif kind == "context":
            if not 0 < len(block["elements"]) <= 10:
                raise BlockKitError("context needs 1..10 elements")
        elif kind == "actions":
            for element in block["elements"]:
                if element["type"] == "button" and (len(element["action_id"]) > 255 or len(element.get("value", "")) > 2000):
                    raise BlockKitError("button action_id <= 255, value <= 2000")
        else:
            raise BlockKitError(f"block type {kind!r} not expected")


class FakeSlack:
    """Start with .start(); point SLACK_API_URL at .url; stop with .stop()."""

    def __init__(self, token: str = "xoxb-test-token", team_id: str = "T0AIRLOCK"):
        self.token = token
        self.team_id = team_id  # the workspace the bot token belongs to (auth.test)
        self.channels = {"#approvals": "C0APPROVALS", "#finance-approvals": "C0FINANCE", "#security": "C0SECURITY"}
        self.users: dict[str, dict] = {}
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemerals: list[dict] = []
        self.calls: list[Call] = []
        self.failures: dict[str, deque[Failure]] = defaultdict(deque)
        self.down = False  # True: every method answers 503, as in an outage
        self.latency: dict[str, float] = {}  # method -> seconds before a successful answer
        self._lock = threading.Lock()
        self._counter = 0
        self._server: ThreadingHTTPServer | None = None

    # --- scripting -----------------------------------------------------------
    def fail(self, method: str, *, times: int = 1, status: int = 500, error: str | None = None,
             retry_after: int | None = None, delay: float = 0.0, html: bool = False) -> None:
        for _ in range(times):
            self.failures[method].append(Failure(status, error, retry_after, delay, html))

    def add_user(self, user_id: str, email: str | None, *, name: str = "", is_bot: bool = False) -> None:
        profile = {"real_name": name or user_id}
        if email is not None:
            profile["email"] = email
        self.users[user_id] = {"id": user_id, "name": name or user_id, "is_bot": is_bot, "deleted": False, "profile": profile}

    def calls_to(self, method: str, *, ok_only: bool = False) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and (not ok_only or c.status == 200)]

    def only_message(self) -> Message:
        with self._lock:
            assert len(self.messages) == 1, f"expected one message, found {len(self.messages)}"
            return next(iter(self.messages.values()))

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"fake Slack: timed out waiting for {what}; calls: {[c.method for c in self.calls]}")
            time.sleep(0.05)

    # --- server --------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> "FakeSlack":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                fake._handle(self)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="fake-slack").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- protocol ------------------------------------------------------------
    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        method = http.path.split("?", 1)[0].removeprefix("/api/")
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length).decode() if length else ""
        if "json" in (http.headers.get("Content-Type") or ""):
            args = json.loads(raw or "{}")
        else:
            query = http.path.split("?", 1)[1] if "?" in http.path else ""
            args = {k: v[0] for k, v in parse_qs(raw + "&" + query).items()}
        with self._lock:
            failure = self.failures[method].popleft() if self.failures[method] else None
            if self.down and failure is None:
                failure = Failure(503, "service_unavailable")
            call = Call(method, args, time.monotonic(), failure.status if failure else 200)
            self.calls.append(call)
        if failure is not None:
            if failure.delay:
                time.sleep(failure.delay)
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            if failure.html:
                return self._send(http, failure.status, "<html><body>Internal Server Error</body></html>", headers, "text/html")
            return self._send(http, failure.status, {"ok": False, "error": failure.error or "internal_error"}, headers)
        if http.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(http, 200, {"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return self._send(http, 404, {"ok": False, "error": "unknown_method"})
        if self.latency.get(method):
            time.sleep(self.latency[method])
        with self._lock:
            body = handler(args)
        call.status = 200
        self._send(http, 200, body)

    def _send(self, http, status: int, body, headers: dict | None = None, content_type: str = "application/json") -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        http.send_response(status)
        http.send_header("Content-Type", content_type)
        http.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            http.send_header(name, value)
        http.end_headers()
        http.wfile.write(data)

    def _next_ts(self) -> str:
        self._counter += 1
        return f"{int(time.time())}.{self._counter:06d}"

    def _channel_id(self, channel: str) -> str | None:
        if channel in self.channels.values():
            return channel
        return self.channels.get(channel)

    def _chat_postMessage(self, args: dict) -> dict:
        channel = self._channel_id(args.get("channel", ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        try:
            check_blocks(args.get("blocks"))
        except (BlockKitError, KeyError, TypeError) as exc:
            return {"ok": False, "error": "invalid_blocks", "detail": str(exc)}
        ts = self._next_ts()
        self.messages[(channel, ts)] = Message(channel, ts, args.get("text", ""), args["blocks"])
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": args.get("text", "")}}

    def _chat_update(self, args: dict) -> dict:
        key = (args.get("channel", ""), args.get("ts", ""))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        try:
            check_blocks(args.get("blocks"))
        except (BlockKitError, KeyError, TypeError) as exc:
            return {"ok": False, "error": "invalid_blocks", "detail": str(exc)}
        message = self.messages[key]
        message.history.append((message.text, message.blocks))
        message.text, message.blocks = args.get("text", ""), args["blocks"]
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message.text}

    def _chat_postEphemeral(self, args: dict) -> dict:
        channel = self._channel_id(args.get("channel", ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        self.ephemerals.append({"channel": channel, "user": args.get("user"), "text": args.get("text", "")})
        return {"ok": True, "message_ts": self._next_ts()}

    def _auth_test(self, args: dict) -> dict:
        return {"ok": True, "url": "https://airlock-test.slack.com/", "team": "airlock-test",
                "user": "airlock", "team_id": self.team_id, "user_id": "U0AIRLOCKBOT", "bot_id": "B0AIRLOCK"}

    def _users_info(self, args: dict) -> dict:
        user = self.users.get(args.get("user", ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}
