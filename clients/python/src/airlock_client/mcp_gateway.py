"""airlock-mcp: an MCP gateway that asks Airlock before every tool call.

    airlock-mcp --url URL --token TOKEN [--prefix PREFIX] [--resource-arg NAME] -- COMMAND [ARGS...]
    airlock-mcp --url URL --token TOKEN --upstream-url http://host:port/mcp [--listen HOST:PORT]

It starts (or connects to) the upstream MCP server as a client, then serves the same tools,
resources and prompts to the agent over stdio (or streamable HTTP with --listen). Every
`tools/call` first asks Airlock `require("<prefix>.<tool>", resource=..., params=arguments)`:
allowed or approved → forwarded; escalate → waits for a person (progress notifications when
the caller sent a progress token); anything else (denied, rejected, expired, Airlock
unreachable) → a tool result with isError and text "Airlock: <status> ...", and the upstream
tool is never called. Built on the official `mcp` SDK (extra `[mcp]`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread

try:
    import mcp.types as types
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.lowlevel.server import Server
    from mcp.server.stdio import stdio_server
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the MCP gateway needs the [mcp] extra: pip install 'airlock-client[mcp]'") from exc

from airlock_client.client import Airlock, Decision
from airlock_client.errors import Denied

logger = logging.getLogger("airlock_client.mcp")

# Seconds per long-poll while a call waits for a person: also how often progress is sent.
PROGRESS_EVERY = 5
ENV_NOT_PASSED = ("AIRLOCK_TOKEN",)  # the upstream never sees the agent's Airlock token


@dataclass
class Policy:
    """How a tool call becomes an Airlock question."""

    prefix: str
    default_resource: str
    resource_arg: str | None = None

    def action(self, tool: str) -> str:
        return f"{self.prefix}.{tool}"

    def resource(self, arguments: dict[str, Any]) -> str:
        if self.resource_arg is None or self.resource_arg not in arguments:
            return self.default_resource
        value = arguments[self.resource_arg]
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def server_slug(name: str) -> str:
    """An upstream server name usable inside an Airlock action (letters, digits, `._:-`)."""
    return re.sub(r"[^A-Za-z0-9._:-]+", "-", name or "").strip("-") or "upstream"


def refusal(error: Denied) -> types.CallToolResult:
    """The tool result for any refusal: isError, text starting "Airlock: <status>"."""
    codes = ", ".join(code for code in error.codes if code) or "no reason given"
    lines = [f"Airlock: {error.status} ({codes})"]
    for reason in error.reasons:
        if isinstance(reason, dict) and reason.get("message"):
            lines.append(f"- {reason.get('code', '')}: {reason['message']}")
    if error.request_id:
        lines.append(f"request: {error.request_id}")
    lines.append("The tool was not called.")
    return types.CallToolResult(content=[types.TextContent(type="text", text="\n".join(lines))], is_error=True)


def build_gateway(upstream: ClientSession, init: types.InitializeResult, airlock: Airlock, policy: Policy,
                  *, progress_every: int = PROGRESS_EVERY) -> Server:
    """A low-level MCP server that mirrors `upstream` and guards its tools with Airlock."""
    caps = init.capabilities
    info = init.server_info
    handlers: dict[str, Any] = {}

    async def list_tools(ctx, params):
        return await upstream.list_tools(params=params)

    async def call_tool(ctx, params: types.CallToolRequestParams):
        arguments = dict(params.arguments or {})
        action = policy.action(params.name)

        gone = threading.Event()  # the caller cancelled or went away: stop waiting for it

        def on_pending(decision: Decision, waited: float) -> None:
            if gone.is_set():
                raise Denied(status="cancelled", request_id=decision.id,
                             reasons=[{"code": "cancelled", "message": "the tool call was cancelled"}])
            message = (f"Airlock: waiting for a person to approve {action} "
                       f"(request {decision.id}, expires {decision.expires_at})")
            anyio.from_thread.run(ctx.session.report_progress, waited, None, message)

        def ask() -> Decision:
            return airlock.require(action, resource=policy.resource(arguments), params=arguments,
                                   context={"input_source": "tool", "mcp_server": info.name}
                                   if info and info.name else {"input_source": "tool"},
                                   on_pending=on_pending)

        try:
            decision = await anyio.to_thread.run_sync(ask, abandon_on_cancel=True)
        except BaseException as exc:
            gone.set()
            if not isinstance(exc, Exception):
                raise  # cancellation: the waiting thread stops at its next poll
            error = exc if isinstance(exc, Denied) else None
            if error is None:
                logger.exception("airlock-mcp: asking Airlock about %s failed", params.name)
                return refusal(Denied(status="unavailable",
                                      reasons=[{"code": "gateway_error", "message": str(exc)}]))
            logger.info("airlock-mcp: %s %s: %s", params.name, error.status, ", ".join(error.codes))
            return refusal(error)

        async def forward_progress(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)

        try:
            result = await upstream.call_tool(params.name, params.arguments, progress_callback=forward_progress)
        except BaseException as exc:
            # The report is an HTTP call: off the event loop, like the decide above.
            detail = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(BaseException):  # the report must not mask the upstream's error
                await anyio.to_thread.run_sync(lambda: airlock.report_outcome(decision, succeeded=False, detail=detail))
            raise
        await anyio.to_thread.run_sync(lambda: airlock.report_outcome(
            decision, succeeded=not result.is_error, detail="tool returned isError" if result.is_error else ""))
        return result

    handlers["on_list_tools"] = list_tools
    handlers["on_call_tool"] = call_tool

    if caps.resources is not None:
        async def list_resources(ctx, params):
            return await upstream.send_request(types.ListResourcesRequest(params=params), types.ListResourcesResult)

        async def list_resource_templates(ctx, params):
            return await upstream.send_request(types.ListResourceTemplatesRequest(params=params),
                                               types.ListResourceTemplatesResult)

        async def read_resource(ctx, params: types.ReadResourceRequestParams):
            return await upstream.read_resource(str(params.uri))

        handlers.update(on_list_resources=list_resources, on_list_resource_templates=list_resource_templates,
                        on_read_resource=read_resource)

    if caps.prompts is not None:
        async def list_prompts(ctx, params):
            return await upstream.send_request(types.ListPromptsRequest(params=params), types.ListPromptsResult)

        async def get_prompt(ctx, params: types.GetPromptRequestParams):
            return await upstream.get_prompt(params.name, params.arguments)

        handlers.update(on_list_prompts=list_prompts, on_get_prompt=get_prompt)

    return Server(info.name if info else "airlock-gateway", version=(info.version if info else "") or "",
                  instructions=init.instructions, **handlers)


@contextlib.asynccontextmanager
async def connect_upstream(command: list[str] | None, url: str | None) -> AsyncIterator[ClientSession]:
    """A ClientSession to the upstream server: a subprocess over stdio, or streamable HTTP."""
    async with contextlib.AsyncExitStack() as stack:
        if url:
            read, write = await stack.enter_async_context(streamable_http_client(url))
        else:
            env = {k: v for k, v in os.environ.items() if k not in ENV_NOT_PASSED}
            parameters = StdioServerParameters(command=command[0], args=command[1:], env=env)
            read, write = await stack.enter_async_context(stdio_client(parameters))
        session = await stack.enter_async_context(ClientSession(read, write))
        yield session


async def run(args: argparse.Namespace) -> None:
    airlock = Airlock(args.url, args.token, timeout=args.timeout, poll_wait=PROGRESS_EVERY)
    async with connect_upstream(args.command or None, args.upstream_url) as upstream:
        init = await upstream.initialize()
        name = init.server_info.name if init.server_info else ""
        policy = Policy(prefix=args.prefix or f"mcp.{server_slug(name)}",
                        default_resource=f"mcp:{server_slug(name)}", resource_arg=args.resource_arg)
        logger.info("airlock-mcp: guarding %r as %s.* (Airlock %s)", name, policy.prefix, airlock.url)
        gateway = build_gateway(upstream, init, airlock, policy)
        if args.listen:
            await serve_http(gateway, args.listen)
        else:
            async with stdio_server() as (read, write):
                await gateway.run(read, write, gateway.create_initialization_options())
    airlock.close()


async def serve_http(gateway: Server, listen: str) -> None:
    import uvicorn

    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    app = gateway.streamable_http_app(host=host)
    config = uvicorn.Config(app, host=host, port=int(port), log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1:]
    parser = argparse.ArgumentParser(
        prog="airlock-mcp", description="An MCP gateway that asks Airlock before every tool call.",
        epilog="Upstream: `-- COMMAND [ARGS...]` (stdio) or --upstream-url (streamable HTTP).")
    parser.add_argument("--url", default=os.environ.get("AIRLOCK_URL"), help="Airlock base URL (AIRLOCK_URL)")
    parser.add_argument("--token", default=os.environ.get("AIRLOCK_TOKEN"), help="agent token (AIRLOCK_TOKEN)")
    parser.add_argument("--prefix", help="action prefix (default mcp.<upstream server name>)")
    parser.add_argument("--resource-arg", help="tool argument whose value is the Airlock resource")
    parser.add_argument("--upstream-url", help="streamable-HTTP URL of the upstream MCP server")
    parser.add_argument("--listen", metavar="HOST:PORT", help="serve streamable HTTP here instead of stdio")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per Airlock call (default 10)")
    parser.add_argument("--log-level", default=os.environ.get("AIRLOCK_MCP_LOG_LEVEL", "WARNING"))
    args = parser.parse_args(argv)
    args.command = command
    if bool(command) == bool(args.upstream_url):
        parser.error("give exactly one upstream: `-- COMMAND [ARGS...]` or --upstream-url URL")
    if not args.url or not args.token:
        parser.error("--url and --token (or AIRLOCK_URL and AIRLOCK_TOKEN) are required")
    if args.listen and not re.fullmatch(r"(\[[^\]]+\]|[^:]*):\d+", args.listen):
        parser.error("--listen must be HOST:PORT")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # stdout is the MCP channel in stdio mode: logs go to stderr only.
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        anyio.run(run, args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
