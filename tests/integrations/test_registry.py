"""A new channel is one folder plus one registry line, with no edit to the domain: the
test-only channel in tests/integrations/echo/ is registered the way integrations/slack is,
then hears escalations and records a vote through its own inbound URL."""

import importlib
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

import airlock.settings
import airlock.urls
from approvals.models import Vote
from governance.models import AuditEvent, DecisionRequest
from integrations import registry
from tests.integrations.echo import receivers as echo

LARGE_ORDER = {
    "action": "purchase_order.create",
    "resource": "vendor:acme-furniture",
    "params": {"amount": 47000, "currency": "USD"},
    "context": {"reasoning": "desks for the new floor", "input_source": "user"},
}


@pytest.fixture
def echo_registered(monkeypatch):
    """The one registry line, then the project loaded as it would be at start-up."""
    monkeypatch.setattr(registry, "CHANNELS", [*registry.CHANNELS, "tests.integrations.echo"])
    project_settings = importlib.reload(airlock.settings)
    echo.HEARD.clear()
    try:
        with override_settings(INSTALLED_APPS=project_settings.INSTALLED_APPS):
            urls = importlib.reload(airlock.urls)
            with override_settings(ROOT_URLCONF=urls):
                yield
    finally:
        from django.apps import apps

        if apps.is_installed("tests.integrations.echo"):
            apps.get_app_config("echo").disconnect()
        from governance.signals import receivers_disconnect

        receivers_disconnect(echo.RECEIVERS)
        monkeypatch.undo()
        importlib.reload(airlock.settings)
        importlib.reload(airlock.urls)


def test_the_registry_lists_slack_and_email_as_installed_channels():
    assert registry.CHANNELS == ["integrations.slack", "integrations.email"]
    assert [c.name for c in registry.installed()] == ["integrations.slack", "integrations.email"]


def test_a_registered_channel_hears_escalations_and_records_votes(
    echo_registered, procurement, client, django_capture_on_commit_callbacks
):
    call_command("approver_add", "alice", "--group", "finance", "--password", "alice-pw-123", stdout=io.StringIO())
    assert "tests.integrations.echo" in [c.name for c in registry.installed()]

    with django_capture_on_commit_callbacks(execute=True):
        request_id = procurement.decide(LARGE_ORDER).json()["id"]
    assert ("opened", request_id) in echo.HEARD

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/echo/vote/{request_id}", {"user": "alice", "choice": "approve"})

    assert response.status_code == 200 and response.json() == {"status": "approved"}
    assert ("approved", request_id) in echo.HEARD
    vote = Vote.objects.get(escalation_id=request_id)
    assert (vote.user.username, vote.via) == ("alice", "echo")
    assert DecisionRequest.objects.get(pk=request_id).status == "approved"
    assert AuditEvent.objects.filter(kind="escalation.approved", request_id=request_id,
                                     actor="user:alice").exists()


def test_an_unregistered_channel_has_no_url(procurement, client, db):
    get_user_model().objects.create_user("alice")
    request_id = procurement.decide(LARGE_ORDER).json()["id"]
    response = client.post(f"/echo/vote/{request_id}", {"user": "alice", "choice": "approve"})
    assert response.status_code == 404
    assert DecisionRequest.objects.get(pk=request_id).status == "pending"


def test_the_domain_names_no_channel():
    """approvals/ and governance/ never compare against or build on a channel's name: channels
    register themselves (outboxes, notification preferences) and give their own `via`."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    names = {c.label for c in registry.installed()} | {c.name for c in registry.installed()}
    assert {"slack", "email"} <= names
    found = []
    for package in ("approvals", "governance"):
        for path in (root / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text())
            # Keys of dicts are attribute names (a person's "email" address in an audit payload).
            keys = {id(k) for d in ast.walk(tree) if isinstance(d, ast.Dict) for k in d.keys if k is not None}
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and node.value in names and id(node) not in keys:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.value!r}")
    assert found == []
