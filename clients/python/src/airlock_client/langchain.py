"""LangChain adapter: wrap an existing tool so every invocation asks Airlock first.

    from airlock_client import Airlock
    from airlock_client.langchain import guard_tool

    safe_tool = guard_tool(create_order_tool, Airlock(), action="purchase_order.create",
                           resource="vendor")

The guarded tool has the wrapped tool's name, description and argument schema. Its input
becomes `params`; it runs the wrapped tool only after `require(...)` returns (allowed or
approved). On any refusal it raises the `Denied` (default), or with `on_denied="message"`
returns "Airlock: <status> (...)" as the tool's output so the model can see why, without the
wrapped tool running. Needs the `[langchain]` extra (`langchain-core`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

try:
    from langchain_core.tools import BaseTool
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the LangChain adapter needs the [langchain] extra: "
                      "pip install 'airlock-client[langchain]'") from exc

from airlock_client.client import Airlock, Decision
from airlock_client.errors import Denied


def refusal_text(error: Denied) -> str:
    codes = ", ".join(code for code in error.codes if code) or "no reason given"
    return f"Airlock: {error.status} ({codes}). The tool was not called."


class GuardedTool(BaseTool):
    """A LangChain tool that asks Airlock before running the tool it wraps."""

    wrapped: BaseTool
    airlock: Any  # an airlock_client.Airlock
    action: str
    resource: Any = None  # str literal, the name of an input field, or a callable(params) -> str
    on_denied: Literal["raise", "message"] = "raise"

    def _question(self, args: tuple, kwargs: dict) -> tuple[Any, dict, str]:
        if kwargs:
            tool_input: Any = dict(kwargs)
            params = dict(kwargs)
        elif len(args) == 1:
            tool_input = args[0]
            params = dict(args[0]) if isinstance(args[0], dict) else {"input": args[0]}
        else:
            tool_input, params = list(args), {"input": list(args)}
        spec = self.resource
        if spec is None:
            resource = ""
        elif callable(spec):
            resource = spec(params)
        elif isinstance(spec, str) and spec in params:
            resource = params[spec]
        else:
            resource = spec
        if not isinstance(resource, str):
            raise Denied(status="error", reasons=[{"code": "guard_error", "message": "resource must be a string"}])
        return tool_input, params, resource

    def _run(self, *args: Any, run_manager=None, **kwargs: Any) -> Any:
        try:
            tool_input, params, resource = self._question(args, kwargs)
            decision = self.airlock.require(self.action, resource=resource, params=params)
        except Denied as error:
            if self.on_denied == "message":
                return refusal_text(error)
            raise
        callbacks = run_manager.get_child() if run_manager is not None else None
        return self._finish(decision, lambda: self.wrapped.run(tool_input, callbacks=callbacks))

    async def _arun(self, *args: Any, run_manager=None, **kwargs: Any) -> Any:
        try:
            tool_input, params, resource = self._question(args, kwargs)
            decision = await self.airlock.arequire(self.action, resource=resource, params=params)
        except Denied as error:
            if self.on_denied == "message":
                return refusal_text(error)
            raise
        callbacks = run_manager.get_child() if run_manager is not None else None
        try:
            result = await self.wrapped.arun(tool_input, callbacks=callbacks)
        except BaseException as exc:
            self.airlock.report_outcome(decision, succeeded=False, detail=f"{type(exc).__name__}: {exc}")
            raise
        self.airlock.report_outcome(decision, succeeded=True)
        return result

    def _finish(self, decision: Decision, call: Callable[[], Any]) -> Any:
        try:
            result = call()
        except BaseException as exc:
            self.airlock.report_outcome(decision, succeeded=False, detail=f"{type(exc).__name__}: {exc}")
            raise
        self.airlock.report_outcome(decision, succeeded=True)
        return result


def guard_tool(tool: BaseTool, airlock: Airlock, *, action: str | None = None, resource: Any = None,
               on_denied: Literal["raise", "message"] = "raise") -> GuardedTool:
    """Wrap `tool`: same name, description and arguments; asks Airlock first.

    `action` defaults to `langchain.<tool name>`; `resource` is a literal string, the name of
    one of the tool's input fields, or a callable taking the input dict."""
    return GuardedTool(
        name=tool.name, description=tool.description, args_schema=tool.args_schema,
        return_direct=tool.return_direct, wrapped=tool, airlock=airlock,
        action=action or f"langchain.{tool.name}", resource=resource, on_denied=on_denied,
    )
