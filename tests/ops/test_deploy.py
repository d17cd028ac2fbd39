"""The deployment layout of docs/deploy.md, brought up on this machine and smoke-tested.

Every process is started from its line in deploy/Procfile (the commands the systemd units run
too): the release step (migrate), TWO web processes, one worker and one beat, against the real
PostgreSQL and Redis, sharing one PROMETHEUS_MULTIPROC_DIR. Through the web processes: decide,
escalate, approve on the web (session login + CSRF POST), expire (by the worker/beat), /readyz,
/metrics (summed across both web processes and the worker). PostgreSQL pass only (slow).
"""

import json
import os
import re
import shlex
import socket
import string
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from governance.services import agent_create, envelope_apply
from tests.approvals.conftest import envelope_with
from tests.worker import purge_queue

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
pytestmark = [pytest.mark.postgres]


def procfile() -> dict[str, str]:
    entries = {}
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Layout:
    def __init__(self, env: dict):
        self.env = env
        self.processes: list[tuple[str, subprocess.Popen, list[str]]] = []

    def argv(self, command: str, extra_env: dict) -> list[str]:
        expanded = string.Template(command).substitute({**self.env, **extra_env})
        return shlex.split(expanded)

    def run(self, name: str, extra_env: dict | None = None) -> subprocess.Popen:
        extra_env = extra_env or {}
        argv = self.argv(procfile()[name], extra_env)
        process = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **extra_env},
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        lines: list[str] = []
        threading.Thread(target=lambda: [lines.append(raw.decode(errors="replace")) for raw in process.stdout],
                         daemon=True).start()
        self.processes.append((name, process, lines))
        return process

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{''.join(lines[-40:])}" for name, _p, lines in self.processes)

    def stop(self) -> None:
        for _name, process, _lines in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for _name, process, _lines in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def wait_until(predicate, timeout: float, layout: Layout, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}\n{layout.logs()}", pytrace=False)


def answers(url: str):
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def samples(text: str) -> dict:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.fixture
def layout(postgres, redis_url, transactional_db, tmp_path):
    purge_queue()
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "airlock.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "AIRLOCK_VAR_DIR": str(tmp_path / "var"),
        "AUDIT_KEY": settings.AUDIT_KEY,
        "SECRET_KEY": settings.SECRET_KEY,
        "AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "METRICS_TOKEN": "deploy-test-metrics-token",
        "LOG_FORMAT": "json",
        "AIRLOCK_SYNC_API": "1",
        "PYTHONUNBUFFERED": "1",
    }
    (tmp_path / "var").mkdir()
    (tmp_path / "prometheus").mkdir()
    running = Layout(env)
    yield running
    running.stop()


def test_the_documented_layout_serves_decides_escalations_votes_and_expiry(layout):
    # The release step first, as the systemd release unit does.
    release = subprocess.run(layout.argv(procfile()["release"], {}), cwd=ROOT, env=layout.env,
                             capture_output=True, text=True, timeout=300)
    assert release.returncode == 0, release.stderr

    agent, token = agent_create(name="deploy-bot")
    envelope_apply(source=envelope_with(agent="deploy-bot"))  # escalations wait 15m: approved by hand
    _hasty, hasty_token = agent_create(name="hasty-bot")
    envelope_apply(source=envelope_with(agent="hasty-bot", escalation_ttl="3s"))  # left to expire
    approver = User.objects.create_user("vera", password="vera-pw-123")
    approver.groups.add(Group.objects.get_or_create(name="finance")[0])

    ports = [free_port(), free_port()]
    for port in ports:
        layout.run("web", {"PORT": str(port)})
    layout.run("worker")
    layout.run("beat")
    webs = [f"http://127.0.0.1:{port}" for port in ports]
    for web in webs:
        wait_until(lambda web=web: answers(f"{web}/healthz"), 60, layout, f"{web}/healthz")
    for web in webs:
        ready = httpx.get(f"{web}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}

    agent_headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "deploy-smoke-0001"}
    order = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 5}}
    allowed = httpx.post(f"{webs[0]}/api/v1/decide", json=order, headers=agent_headers, timeout=10)
    assert allowed.status_code == 200 and allowed.json()["decision"] == "allow"
    assert allowed.headers["X-Request-ID"] == "deploy-smoke-0001"
    big = {**order, "params": {"amount": 20000}}
    to_approve = httpx.post(f"{webs[1]}/api/v1/decide", json=big, headers=agent_headers, timeout=10).json()
    to_expire = httpx.post(f"{webs[0]}/api/v1/decide", json=big, timeout=10,
                           headers={"Authorization": f"Bearer {hasty_token}"}).json()
    assert to_approve["decision"] == to_expire["decision"] == "escalate"

    # Approve on the web, as a person: session login, then the queue's CSRF-protected POST.
    with httpx.Client(base_url=webs[1], timeout=10) as browser:
        browser.get("/accounts/login/")
        csrf = browser.cookies["csrftoken"]
        login = browser.post("/accounts/login/", data={"username": "vera", "password": "vera-pw-123",
                                                       "csrfmiddlewaretoken": csrf})
        assert login.status_code == 302, login.text
        refused = browser.post(f"/escalations/{to_approve['id']}/vote", data={"choice": "approve"})
        assert refused.status_code == 403  # no CSRF token: refused, nothing recorded
        vote = browser.post(f"/escalations/{to_approve['id']}/vote",
                            data={"choice": "approve", "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
                            headers={"Referer": webs[1] + "/"})
        assert vote.status_code in (200, 302), vote.text

    def status(request_id, bearer=token):
        return httpx.get(f"{webs[0]}/api/v1/requests/{request_id}", headers={"Authorization": f"Bearer {bearer}"},
                         timeout=10).json()["status"]

    assert status(to_approve["id"]) == "approved"
    # Expiry is persisted by the worker (ETA task) or beat's sweep, not just reported.
    from governance.models import DecisionRequest

    wait_until(lambda: DecisionRequest.objects.get(pk=to_expire["id"]).status == "expired", 60, layout,
               "the worker or beat to expire the escalation")
    assert status(to_expire["id"], hasty_token) == "expired"

    # /metrics: guarded, and summed across both web processes and the worker.
    assert httpx.get(f"{webs[0]}/metrics", timeout=10).status_code == 401
    scrape = httpx.get(f"{webs[0]}/metrics", headers={"Authorization": "Bearer deploy-test-metrics-token"}, timeout=10)
    assert scrape.status_code == 200
    found = samples(scrape.text)
    assert found[("airlock_decisions_total", (("agent", "deploy-bot"), ("decision", "allow")))] == 1
    # One escalation was answered by web 1, the other by web 0: both counted in one scrape.
    assert found[("airlock_decisions_total", (("agent", "deploy-bot"), ("decision", "escalate")))] == 1
    assert found[("airlock_decisions_total", (("agent", "hasty-bot"), ("decision", "escalate")))] == 1
    assert found[("airlock_decide_seconds_count", ())] == 3
    assert found[("airlock_approval_wait_seconds_count", (("outcome", "approved"),))] == 1  # web 1
    assert found[("airlock_approval_wait_seconds_count", (("outcome", "expired"),))] == 1  # the worker
    assert found[("airlock_escalations_pending", ())] == 0
    assert found[("airlock_expiry_lag_seconds", ())] == 0
    # The same totals from the other web process.
    other = samples(httpx.get(f"{webs[1]}/metrics", headers={"Authorization": "Bearer deploy-test-metrics-token"},
                              timeout=10).text)
    assert other[("airlock_decide_seconds_count", ())] == 3

    # The decide's request id reached its audit event; JSON logs are one object per line.
    from governance.models import AuditEvent

    event = AuditEvent.objects.get(request_id=allowed.json()["id"], kind="decision.allow")
    assert event.payload["http_request_id"] == "deploy-smoke-0001"
    for name, process, _lines in layout.processes:
        assert process.poll() is None, f"{name} died\n{layout.logs()}"
    # LOG_FORMAT=json: every line the web processes wrote is one JSON object with a request id
    # field (the refused /metrics scrape above was logged by django.request, with its id).
    web_lines = [line for name, _p, lines in layout.processes if name == "web" for line in lines if line.strip()]
    records = [json.loads(line) for line in web_lines]
    assert any(r.get("request_id") and "/metrics" in r.get("message", "") for r in records), web_lines


def test_readyz_answers_503_fast_when_the_database_is_unreachable(layout):
    port = free_port()
    layout.env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1
    layout.run("web", {"PORT": str(port)})
    wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), 60, layout, "healthz")
    started = time.monotonic()
    response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert "database" in body["failed"] and body["checks"]["redis"] == "ok"
    assert re.match(r"(error|timeout)", body["checks"]["database"])
    assert elapsed < 10


def test_systemd_units_run_the_procfile_commands():
    """The units and the Procfile must not drift: same command for each process."""
    units = DEPLOY / "systemd"
    commands = procfile()
    pairs = {"airlock-web@.service": "web", "airlock-worker.service": "worker",
             "airlock-beat.service": "beat", "airlock-release.service": "release"}
    for unit, name in pairs.items():
        text = (units / unit).read_text()
        exec_start = re.search(r"^ExecStart=(.*)$", text, re.M).group(1)
        assert exec_start == commands[name], unit
