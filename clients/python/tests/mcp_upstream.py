"""A real upstream MCP server for the gateway tests, written with the official SDK.

Every tool call is appended to the JSON Lines file in $UPSTREAM_CALLS (or --calls), so a test
can prove that a refused call never reached it. Serves stdio, or streamable HTTP with --http PORT.
"""

import argparse
import json
import os

from mcp.server.mcpserver import MCPServer

parser = argparse.ArgumentParser()
parser.add_argument("--calls", default=os.environ.get("UPSTREAM_CALLS", ""))
parser.add_argument("--http", type=int, default=0)
args = parser.parse_args()

server = MCPServer("demo-files", instructions="A demo upstream for Airlock's gateway tests.", log_level="WARNING")


def record(tool: str, arguments: dict) -> None:
    if args.calls:
        with open(args.calls, "a") as calls:
            calls.write(json.dumps({"tool": tool, "arguments": arguments, "env_token": "AIRLOCK_TOKEN" in os.environ})
                        + "\n")


@server.tool()
def read_file(path: str) -> str:
    """Read a file (pretend)."""
    record("read_file", {"path": path})
    return f"contents of {path}"


@server.tool()
def pay(vendor: str, amount: float) -> str:
    """Pay a vendor (pretend)."""
    record("pay", {"vendor": vendor, "amount": amount})
    return f"paid {amount:g} to {vendor}"


@server.tool()
def fail(reason: str) -> str:
    """Always raises (to check outcomes of failing tools)."""
    record("fail", {"reason": reason})
    raise RuntimeError(reason)


@server.resource("demo://readme", mime_type="text/plain")
def readme() -> str:
    return "the demo upstream's readme"


@server.prompt()
def summarise(topic: str) -> str:
    """A prompt that passes through the gateway unchanged."""
    return f"Summarise {topic} in one line."


if __name__ == "__main__":
    if args.http:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run()
