"""Callback URLs may not reach loopback, private, link-local or metadata addresses (issue 9,
point 12): refused at registration (command, admin UI: a clear error, nothing created) and
again at send time, where the connection goes to the address that was checked.

Before: `agent_create --callback-url http://169.254.169.254/latest/meta-data` was accepted and
Airlock POSTed there (and to 127.0.0.1, 10.x, ...) on every resolution.
"""

import ipaddress
import os
import socket
import subprocess
import sys

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from approvals.callbacks import CallbackFailed, callback_deliver
from approvals.services import approval_decide
from governance import netguard
from governance.models import Agent, AuditEvent
from governance.services import agent_create
from tests.approvals.callback_receiver import CallbackReceiver
from tests.approvals.conftest import LARGE_ORDER
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db

REFUSED = [
    "127.0.0.1", "127.8.9.10", "0.0.0.0", "10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1",
    "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.100.100.200", "224.0.0.1", "255.255.255.255",
    "::1", "::", "fc00::1", "fd00:ec2::254", "fe80::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "ff02::1",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"]


@pytest.fixture
def strict(settings):
    settings.AIRLOCK_CALLBACK_ALLOW_PRIVATE = False
    return settings


def test_private_addresses_are_refused_by_default():
    env = {k: v for k, v in os.environ.items() if k != "AIRLOCK_CALLBACK_ALLOW_PRIVATE"}
    env["DJANGO_SETTINGS_MODULE"] = "airlock.settings"
    out = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.AIRLOCK_CALLBACK_ALLOW_PRIVATE)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_have_a_reason(address):
    assert netguard.address_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert netguard.address_refusal(ipaddress.ip_address(address)) is None


def fake_dns(monkeypatch, answers: dict):
    """getaddrinfo answering `answers[host]` (a list of addresses); the rest as usual."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                    for a in answers[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/hook", "http://localhost/hook", "http://[::1]/hook", "https://0.0.0.0/",
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/hook", "http://[fd00:ec2::254]/",
    "http://internal.example/hook", "http://mixed.example/hook", "ftp://agents.example.com/x",
    "http://user:pw@agents.example.com/x",
])
def test_agent_create_refuses_private_callback_urls_and_creates_nothing(strict, monkeypatch, url):
    fake_dns(monkeypatch, {"internal.example": ["10.9.8.7"], "mixed.example": ["93.184.216.34", "192.168.0.10"]})
    agents, events = Agent.objects.count(), AuditEvent.objects.count()
    with pytest.raises(ValidationError) as caught:
        agent_create(name="hook-bot", callback_url=url)
    assert "callback_url" in caught.value.message_dict
    with pytest.raises(CommandError, match="callback_url: "):
        call_command("agent_create", "hook-bot", "--callback-url", url)
    assert Agent.objects.count() == agents and AuditEvent.objects.count() == events


def test_the_command_error_says_why(strict):
    with pytest.raises(CommandError, match="169.254.169.254, a link-local address.*AIRLOCK_CALLBACK_ALLOW_PRIVATE"):
        call_command("agent_create", "hook-bot", "--callback-url", "http://169.254.169.254/")


def test_the_admin_ui_refuses_a_private_callback_url(strict, admin_client):
    agents = Agent.objects.count()
    response = admin_client.post(reverse("adminui:agents"), {"name": "hook-bot", "callback_url": "http://127.0.0.1/x"})
    assert response.status_code == 400
    assert "loopback address" in response.content.decode()
    assert Agent.objects.count() == agents


def test_public_and_not_yet_resolvable_hosts_are_accepted(strict, monkeypatch):
    fake_dns(monkeypatch, {"hooks.example": ["93.184.216.34"]})
    agent, _ = agent_create(name="public-bot", callback_url="https://hooks.example/airlock")
    assert agent.callback_secret
    agent, _ = agent_create(name="later-bot", callback_url="https://not-yet.invalid/airlock")
    assert agent.callback_url == "https://not-yet.invalid/airlock"  # checked again at each send


def test_a_url_turned_private_after_registration_is_refused_at_send_time(callback_agent, alice, settings, monkeypatch):
    """DNS rebinding: public when registered, 127.0.0.1 when sending: nothing is sent."""
    with CallbackReceiver() as receiver:
        fake_dns(monkeypatch, {"rebind.example": ["93.184.216.34"]})
        client = callback_agent(receiver.url)
        Agent.objects.filter(pk=client.agent.pk).update(
            callback_url=f"http://rebind.example:{receiver.server.server_port}/airlock")
        rid = client.decide(LARGE_ORDER).json()["id"]
        approval_decide(request_id=rid, user=alice, choice="approve", comment="ok")
        settings.AIRLOCK_CALLBACK_ALLOW_PRIVATE = False
        fake_dns(monkeypatch, {"rebind.example": ["127.0.0.1"]})
        with pytest.raises(CallbackFailed, match="refused: .*loopback"):
            callback_deliver(request_id=rid)
        # The receiver itself is a loopback address: refused too once private is not allowed.
        Agent.objects.filter(pk=client.agent.pk).update(callback_url=receiver.url)
        with pytest.raises(CallbackFailed, match="refused"):
            callback_deliver(request_id=rid)
        assert receiver.arrivals == []


def test_the_connection_goes_to_the_checked_address_with_the_original_host(callback_agent, alice, monkeypatch):
    """The send resolves once and connects to that address (httpx never resolves the name
    again, so a second, different DNS answer cannot redirect it); Host stays the name."""
    with CallbackReceiver() as receiver:
        client = callback_agent(receiver.url)
        receiver.secret = client.agent.callback_secret
        port = receiver.server.server_port
        Agent.objects.filter(pk=client.agent.pk).update(callback_url=f"http://agent.example:{port}/airlock?x=1")
        fake_dns(monkeypatch, {"agent.example": ["127.0.0.1"]})
        rid = client.decide(LARGE_ORDER).json()["id"]
        approval_decide(request_id=rid, user=alice, choice="approve", comment="ok")
        assert callback_deliver(request_id=rid) == 200
        [delivery] = receiver.deliveries
    assert delivery.headers["host"] == f"agent.example:{port}"
    assert delivery.signature_ok
