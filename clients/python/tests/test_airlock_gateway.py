"""airlock-mcp end to end: the SDK's own ClientSession → the gateway (a real subprocess) → a
real upstream MCP server (tests/mcp_upstream.py, which records every call it receives), with a
real running Airlock deciding."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager, contextmanager

import anyio
import pytest
from conftest import UPSTREAM, approve, envelope, free_port
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.django_db(transaction=True)


def calls_in(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def gateway(url: str, token: str | None, calls, *options: str, env: dict | None = None) -> StdioServerParameters:
    args = ["-m", "airlock_client.mcp_gateway", "--url", url, *(["--token", token] if token else []), *options,
            "--", sys.executable, str(UPSTREAM), "--calls", str(calls)]
    return StdioServerParameters(command=sys.executable, args=args, env=env)


@asynccontextmanager
async def session(parameters: StdioServerParameters):
    async with stdio_client(parameters) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        yield client


def text(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


def run(coroutine_fn):
    return anyio.run(coroutine_fn)


def test_an_allowed_call_is_forwarded_and_lists_pass_through_unchanged(airlock_url, agent, tmp_path):
    calls = tmp_path / "calls.jsonl"
    direct_calls = tmp_path / "direct.jsonl"

    async def main():
        async with session(gateway(airlock_url, agent.token, calls)) as guarded, \
                session(StdioServerParameters(command=sys.executable,
                                              args=[str(UPSTREAM), "--calls", str(direct_calls)])) as direct:
            result = await guarded.call_tool("read_file", {"path": "/srv/notes.txt"})
            failed = [await s.call_tool("fail", {"reason": "disk full"}) for s in (guarded, direct)]
            listed = [await s.list_tools() for s in (guarded, direct)]
            resources = [await s.list_resources() for s in (guarded, direct)]
            read = [await s.read_resource("demo://readme") for s in (guarded, direct)]
            prompts = [await s.list_prompts() for s in (guarded, direct)]
            prompt = [await s.get_prompt("summarise", {"topic": "audits"}) for s in (guarded, direct)]
            return result, failed, listed, resources, read, prompts, prompt

    result, failed, listed, resources, read, prompts, prompt = run(main)
    assert not result.is_error and text(result) == "contents of /srv/notes.txt"
    assert calls_in(calls) == [{"tool": "read_file", "arguments": {"path": "/srv/notes.txt"}, "env_token": False},
                               {"tool": "fail", "arguments": {"reason": "disk full"}, "env_token": False}]
    # A tool that fails upstream (allowed by Airlock) comes back exactly as the upstream said.
    assert failed[0].is_error and not text(failed[0]).startswith("Airlock:")
    for through_gateway, straight in (failed, listed, resources, read, prompts, prompt):
        assert through_gateway.model_dump() == straight.model_dump()
    assert [tool.name for tool in listed[0].tools] == ["read_file", "pay", "fail"]
    # The gateway reported each call's outcome to Airlock.
    from governance.models import DecisionRequest

    outcomes = dict(DecisionRequest.objects.filter(agent=agent.agent).values_list("action", "outcome_status"))
    assert outcomes == {"mcp.demo-files.read_file": "succeeded", "mcp.demo-files.fail": "failed"}


def test_a_denied_call_never_reaches_the_upstream(airlock_url, agent, tmp_path):
    calls = tmp_path / "calls.jsonl"

    async def main():
        async with session(gateway(airlock_url, agent.token, calls)) as client:
            over_limit = await client.call_tool("pay", {"vendor": "acme", "amount": 5000})
            small = await client.call_tool("pay", {"vendor": "acme", "amount": 5})
        return over_limit, small

    over_limit, allowed = run(main)
    assert over_limit.is_error and text(over_limit).startswith("Airlock: denied (amount_over_hard_limit)")
    assert "The tool was not called." in text(over_limit)
    assert not allowed.is_error
    assert [call["arguments"] for call in calls_in(calls)] == [{"vendor": "acme", "amount": 5}]


def test_an_escalation_waits_with_progress_and_is_forwarded_once_approved(airlock_url, agent, approver_token,
                                                                          tmp_path):
    calls = tmp_path / "calls.jsonl"
    progress: list[str] = []

    async def main():
        approved = anyio.Event()

        async def on_progress(value, total, message):
            progress.append(message or "")
            if not approved.is_set():
                request_id = re.search(r"request ([0-9a-f-]{36})", message or "").group(1)
                answer = await anyio.to_thread.run_sync(approve, airlock_url, approver_token, request_id)
                assert answer.status_code == 200, answer.text
                approved.set()

        async with session(gateway(airlock_url, agent.token, calls)) as client:
            return await client.call_tool("pay", {"vendor": "acme", "amount": 500}, progress_callback=on_progress)

    result = run(main)
    assert not result.is_error and text(result) == "paid 500 to acme"
    assert progress and progress[0].startswith("Airlock: waiting for a person to approve mcp.demo-files.pay")
    assert calls_in(calls) == [{"tool": "pay", "arguments": {"vendor": "acme", "amount": 500}, "env_token": False}]


def test_rejection_and_expiry_fail_closed(airlock_url, agent, make_agent, approver_token, tmp_path):
    calls = tmp_path / "calls.jsonl"
    short = make_agent("short-bot", envelope(name="short-bot", ttl="2s"))

    async def main():
        async def reject(value, total, message):
            request_id = re.search(r"request ([0-9a-f-]{36})", message or "").group(1)
            await anyio.to_thread.run_sync(approve, airlock_url, approver_token, request_id, "deny")

        async with session(gateway(airlock_url, agent.token, calls)) as client:
            rejected = await client.call_tool("pay", {"vendor": "acme", "amount": 600}, progress_callback=reject)
        async with session(gateway(airlock_url, short.token, calls)) as client:
            expired = await client.call_tool("pay", {"vendor": "acme", "amount": 700})
        return rejected, expired

    rejected, expired = run(main)
    assert rejected.is_error and text(rejected).startswith("Airlock: rejected (amount_over_limit)")
    assert expired.is_error and text(expired).startswith("Airlock: expired")
    assert calls_in(calls) == []


def test_airlock_down_fails_closed(agent, tmp_path):
    calls = tmp_path / "calls.jsonl"

    async def main():
        async with session(gateway(f"http://127.0.0.1:{free_port()}", agent.token, calls)) as client:
            return await client.call_tool("read_file", {"path": "/srv/notes.txt"})

    result = run(main)
    assert result.is_error and text(result).startswith("Airlock: unavailable (unreachable)")
    assert "The tool was not called." in text(result) and calls_in(calls) == []


def test_resource_arg_prefix_and_a_token_from_the_environment(airlock_url, make_agent, tmp_path):
    """--prefix payments and --resource-arg vendor: `pay` asks about payments.pay on the vendor;
    the token comes from AIRLOCK_TOKEN and is not passed on to the upstream's environment."""
    calls = tmp_path / "calls.jsonl"
    bot = make_agent("vendor-bot", envelope(name="vendor-bot"))
    env = {"AIRLOCK_TOKEN": bot.token}

    async def main():
        async with session(gateway(airlock_url, None, calls, "--resource-arg", "vendor", "--prefix", "payments",
                                   env=env)) as client:
            acme = await client.call_tool("pay", {"vendor": "acme", "amount": 5})
            evil = await client.call_tool("pay", {"vendor": "evil", "amount": 5})
            unlisted = await client.call_tool("read_file", {"path": "/etc/shadow"})  # payments.read_file
        return acme, evil, unlisted

    acme, evil, unlisted = run(main)
    assert not acme.is_error
    assert evil.is_error and text(evil).startswith("Airlock: denied (outside_envelope)")
    assert unlisted.is_error and text(unlisted).startswith("Airlock: denied (outside_envelope)")
    assert calls_in(calls) == [{"tool": "pay", "arguments": {"vendor": "acme", "amount": 5}, "env_token": False}]


@contextmanager
def process(*args: str, port: int):
    """A child process that serves HTTP on `port`; stopped at the end."""
    child = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ})
    try:
        deadline = time.monotonic() + 30
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"{args} exited with {child.returncode}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{args} did not listen on {port}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def test_streamable_http_upstream_and_listen(airlock_url, agent, tmp_path):
    """--upstream-url to an HTTP upstream, --listen to serve HTTP: same guard."""
    calls = tmp_path / "calls.jsonl"
    upstream_port, gateway_port = free_port(), free_port()
    with process(str(UPSTREAM), "--http", str(upstream_port), "--calls", str(calls), port=upstream_port) as upstream, \
            process("-m", "airlock_client.mcp_gateway", "--url", airlock_url, "--token", agent.token,
                    "--upstream-url", upstream, "--listen", f"127.0.0.1:{gateway_port}", port=gateway_port) as url:

        async def main():
            async with streamable_http_client(url) as (read, write), ClientSession(read, write) as client:
                await client.initialize()
                tools = await client.list_tools()
                allowed = await client.call_tool("read_file", {"path": "/srv/a"})
                denied = await client.call_tool("pay", {"vendor": "acme", "amount": 5000})
                return tools, allowed, denied

        tools, allowed, denied = run(main)
    assert [tool.name for tool in tools.tools] == ["read_file", "pay", "fail"]
    assert not allowed.is_error and text(allowed) == "contents of /srv/a"
    assert denied.is_error and text(denied).startswith("Airlock: denied (amount_over_hard_limit)")
    assert [call["tool"] for call in calls_in(calls)] == ["read_file"]


def test_the_command_line_refuses_to_start_without_an_upstream_or_credentials():
    no_upstream = subprocess.run([sys.executable, "-m", "airlock_client.mcp_gateway", "--url", "http://x", "--token",
                                  "t"], capture_output=True, text=True, timeout=30)
    assert no_upstream.returncode == 2 and "exactly one upstream" in no_upstream.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("AIRLOCK_URL", "AIRLOCK_TOKEN")}
    no_token = subprocess.run([sys.executable, "-m", "airlock_client.mcp_gateway", "--url", "http://x", "--", "true"],
                              capture_output=True, text=True, timeout=30, env=env)
    assert no_token.returncode == 2 and "--token" in no_token.stderr


def test_the_client_never_imports_django_or_the_server():
    probe = ("import sys, airlock_client, airlock_client.mcp_gateway, airlock_client.langchain\n"
             "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'governance', 'approvals', 'tests'))\n"
             "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd="/")
    assert result.returncode == 0, result.stdout + result.stderr
