"""Sequences across agents (SPEC §5, seed incident 6): a security-group change by one agent,
a deploy by another and a DNS record by a third, on the same resource or session within the
window, make the completing request escalate. Through the API, with three agents."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from governance.models import AuditEvent

pytestmark = pytest.mark.django_db

# A Wednesday afternoon in London: inside deploy-bot's hours.
T0 = datetime(2026, 11, 18, 13, 0, tzinfo=UTC)


@pytest.fixture
def agents(make_agent):
    return (
        make_agent("netops-bot", "netops-bot.yaml"),
        make_agent("deploy-bot", "deploy-bot.yaml"),
        make_agent("dns-bot", "dns-bot.yaml"),
    )


def open_port(netops, resource="service:billing-api", **context):
    return netops.decide({"action": "security_group.update", "resource": resource,
                          "params": {"port": 443, "cidr": "0.0.0.0/0"}, "context": context}).json()


def deploy(deployer, resource="service:billing-api", **context):
    return deployer.decide({"action": "service.deploy", "resource": resource,
                            "params": {"version": "1.4.2", "tests": {"passed": True, "retries": 0}}, "context": context}).json()


def publish(dns, resource="service:billing-api", **context):
    return dns.decide({"action": "dns.record.create", "resource": resource,
                       "params": {"name": "billing.example.com"}, "context": context}).json()


def at(minutes: float):
    return time_machine.travel(T0 + timedelta(minutes=minutes), tick=False)


def codes(body):
    return {r["code"] for r in body["reasons"]}


def test_three_agents_completing_the_chain_on_one_resource_escalate(agents):
    netops, deployer, dns = agents
    with at(0):
        assert open_port(netops)["decision"] == "allow"
    with at(10):
        assert deploy(deployer)["decision"] == "allow"
    with at(20):
        body = publish(dns)
    assert body["decision"] == "escalate"
    assert "sequence_complete" in codes(body)
    reason = next(r for r in body["reasons"] if r["code"] == "sequence_complete")
    assert reason["rule"] == "sequences.exposure-chain"
    assert "within 30m" in reason["message"]
    assert AuditEvent.objects.get(request_id=body["id"], kind="decision.escalate").actor == "agent:dns-bot"


def test_the_same_session_links_different_resources(agents):
    netops, deployer, dns = agents
    with at(0):
        open_port(netops, "service:ledger", session="incident-881")
    with at(5):
        deploy(deployer, "service:ledger-v2", session="incident-881")
    with at(6):
        body = publish(dns, "service:ledger-public", session="incident-881")
    assert body["decision"] == "escalate"
    assert {r["rule"] for r in body["reasons"]} == {"sequences.exposure-chain-session"}
    with at(7):
        assert publish(dns, "service:ledger-public", session="another-session")["decision"] == "allow"


def test_a_chain_longer_than_the_window_does_not_escalate(agents):
    netops, deployer, dns = agents
    with at(0):
        open_port(netops)
    with at(20):
        deploy(deployer)
    with at(31):  # the security-group change left the 30-minute window
        body = publish(dns)
    assert (body["decision"], codes(body)) == ("allow", {"within_envelope"})


def test_the_steps_in_another_order_do_not_escalate(agents):
    netops, deployer, dns = agents
    with at(0):
        deploy(deployer)
    with at(5):
        open_port(netops)
    with at(10):
        assert publish(dns)["decision"] == "allow"


def test_other_resources_do_not_complete_the_chain(agents):
    netops, deployer, dns = agents
    with at(0):
        open_port(netops, "service:billing-api")
    with at(5):
        deploy(deployer, "service:search")
    with at(10):
        assert publish(dns, "service:billing-api")["decision"] == "allow"


def test_a_denied_step_did_not_happen(agents):
    netops, deployer, dns = agents
    with at(0):
        open_port(netops)
    with at(5):
        body = deployer.decide({"action": "service.deploy", "resource": "service:billing-api",
                                "params": {"version": "1.4.3", "tests": {"passed": False}}}).json()
        assert (body["decision"], codes(body)) == ("deny", {"tests_failed"})
    with at(10):
        assert publish(dns)["decision"] == "allow"


def test_an_escalated_step_still_counts_while_pending(agents):
    netops, deployer, dns = agents
    with at(0):
        open_port(netops)
    with at(5):
        body = deployer.decide({"action": "service.deploy", "resource": "service:billing-api",
                                "params": {"version": "2.0.0", "migration": {"destructive": True}}}).json()
        assert body["decision"] == "escalate"
    with at(10):
        assert "sequence_complete" in codes(publish(dns))
