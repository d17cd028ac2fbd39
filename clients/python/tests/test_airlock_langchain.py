"""airlock_client.langchain with the real langchain-core package and a real Airlock."""

import asyncio

import pytest
from airlock_client import Airlock, Denied, Unavailable
from airlock_client.langchain import GuardedTool, guard_tool
from langchain_core.tools import StructuredTool, tool

pytestmark = pytest.mark.django_db(transaction=True)


def make_lookup(ran: list):
    @tool
    def lookup_price(sku: str, quantity: int = 1) -> str:
        """Look up the price of a catalogue item."""
        ran.append((sku, quantity))
        return f"{quantity} x {sku}: $10"

    return lookup_price


def test_a_guarded_tool_keeps_the_interface_and_runs_only_when_allowed(airlock_url, agent):
    ran: list = []
    original = make_lookup(ran)
    reports: list = []
    airlock = Airlock(airlock_url, agent.token, outcome_reporter=lambda d, ok, detail: reports.append(ok))
    guarded = guard_tool(original, airlock)

    assert isinstance(guarded, GuardedTool)
    assert guarded.name == "lookup_price" and guarded.description == original.description
    assert guarded.args == original.args and guarded.action == "langchain.lookup_price"

    assert guarded.invoke({"sku": "chair", "quantity": 2}) == "2 x chair: $10"
    with pytest.raises(Denied) as refused:
        guarded.invoke({"sku": "forbidden"})
    assert "forbidden_sku" in refused.value.codes
    assert ran == [("chair", 2)] and reports == [True]


def test_a_tool_call_from_a_model_is_guarded_too(airlock_url, agent):
    """What an agent loop sends: a ToolCall dict; the answer is a ToolMessage."""
    ran: list = []
    guarded = guard_tool(make_lookup(ran), Airlock(airlock_url, agent.token), on_denied="message")
    ok = guarded.invoke({"name": "lookup_price", "args": {"sku": "desk"}, "id": "call-1", "type": "tool_call"})
    no = guarded.invoke({"name": "lookup_price", "args": {"sku": "forbidden"}, "id": "call-2", "type": "tool_call"})
    assert ok.content == "1 x desk: $10" and ok.tool_call_id == "call-1"
    assert no.content.startswith("Airlock: denied (forbidden_sku)") and ran == [("desk", 1)]


def test_async_invocation_and_airlock_down(airlock_url, agent):
    ran: list = []
    guarded = guard_tool(make_lookup(ran), Airlock(airlock_url, agent.token), resource="sku")
    assert asyncio.run(guarded.ainvoke({"sku": "lamp"})) == "1 x lamp: $10"
    down = guard_tool(make_lookup(ran), Airlock("http://127.0.0.1:9", agent.token, sleep=lambda s: None))
    with pytest.raises(Unavailable):
        down.invoke({"sku": "lamp"})
    with pytest.raises(Unavailable):
        asyncio.run(down.ainvoke({"sku": "lamp"}))
    assert ran == [("lamp", 1)]


def test_an_explicit_action_and_resource_callable(airlock_url, agent):
    ran: list = []

    def order(vendor: str, amount: int) -> str:
        ran.append(amount)
        return "ordered"

    order_tool = StructuredTool.from_function(order, name="order", description="Order from a vendor.")
    guarded = guard_tool(order_tool, Airlock(airlock_url, agent.token), action="purchase_order.create",
                         resource=lambda params: f"vendor:{params['vendor']}")
    assert guarded.invoke({"vendor": "staples", "amount": 50}) == "ordered"
    with pytest.raises(Denied) as refused:
        guarded.invoke({"vendor": "staples", "amount": 200000})
    assert "amount_over_hard_limit" in refused.value.codes and ran == [50]
