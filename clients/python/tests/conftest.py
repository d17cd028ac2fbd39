"""airlock-client tests run against a real Airlock: the suite's uvicorn subprocess on the test
database (tests/approvals/asgi_server.py), with agents and approvers made by the suite's own
fixtures. These are the only server-side imports of the client tests."""

import io
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command

from tests.approvals.asgi_server import asgi_server, free_port
from tests.approvals.conftest import alice  # noqa: F401  (fixture)
from tests.conftest import make_agent, redis_url  # noqa: F401  (fixtures)

HERE = Path(__file__).resolve().parent
UPSTREAM = HERE / "mcp_upstream.py"

# One envelope for the client, decorator, LangChain and gateway tests. No YAML aliases.
ENVELOPE = """\
agent: {name}
mode: enforce
default: deny
approvers: [finance]
quorum: 1
escalation_ttl: {ttl}
capabilities:
  - name: orders
    action: purchase_order.create
    resources: ["vendor:*"]
    deny_when:
      - when: "params.amount > 100000"
        code: amount_over_hard_limit
        message: "amount over the 100,000 hard limit"
    escalate_when:
      - when: "params.amount > 10000"
        code: amount_over_limit
        message: "amount over the 10,000 auto-approval limit"
  - name: langchain lookups
    action: "langchain.*"
    deny_when:
      - when: "has(params.sku) && params.sku == 'forbidden'"
        code: forbidden_sku
  - name: reading files
    action: "mcp.demo-files.read_file"
  - name: failing tool
    action: "mcp.demo-files.fail"
  - name: payments
    action: "mcp.demo-files.pay"
    resources: ["{pay_resource}"]
    deny_when:
      - when: "params.amount > 1000"
        code: amount_over_hard_limit
    escalate_when:
      - when: "params.amount > 100"
        code: amount_over_limit
  - name: payments with a prefix
    action: "payments.pay"
    resources: ["acme"]
"""


def envelope(name: str = "client-bot", ttl: str = "15m", pay_resource: str = "mcp:demo-files") -> str:
    return ENVELOPE.format(name=name, ttl=ttl, pay_resource=pay_resource)


@pytest.fixture(scope="module")
def airlock_url(django_db_setup, redis_url, tmp_path_factory):  # noqa: F811 - the imported fixture
    """A real Airlock (uvicorn + the project's ASGI app) for the module; rows each test commits
    are visible to it, and flushed after the test."""
    with asgi_server(log=tmp_path_factory.mktemp("uvicorn") / "uvicorn.log") as base:
        yield base


@pytest.fixture
def agent(make_agent):  # noqa: F811
    """An agent with the client envelope: `.token`."""
    return make_agent("client-bot", envelope())


@pytest.fixture
def approver_token(alice):  # noqa: F811
    out = io.StringIO()
    call_command("approver_token", "alice", stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def approve(base: str, token: str, request_id: str, choice: str = "approve") -> httpx.Response:
    """A person answers over the approver API, as the web queue or a script would."""
    return httpx.post(f"{base}/api/v1/escalations/{request_id}/{choice}", json={"comment": "from the client tests"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)


def decision_ids(agent) -> list[str]:
    """Ids of the decisions the server recorded for this agent (its database, not the API)."""
    from governance.models import DecisionRequest

    return [str(pk) for pk in DecisionRequest.objects.filter(agent=agent.agent).values_list("id", flat=True)]


class FakeAirlock:
    """A local HTTP server that answers with whatever a test scripts, to reproduce what a real
    Airlock never sends (5xx, garbage, contradictions). Records every request."""

    def __init__(self, script):
        self.script = list(script)  # items: (status, body-or-bytes) or callable(method, path, body)
        self.requests: list[tuple[str, str, dict | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                fake.requests.append((method, self.path, body))
                step = fake.script.pop(0) if len(fake.script) > 1 else fake.script[0]
                status, payload = step(method, self.path, body) if callable(step) else step
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def python() -> str:
    return sys.executable
