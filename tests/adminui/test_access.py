"""Only staff use the admin UI: anonymous people log in first; approvers and outsiders get 403."""

import pytest
from django.urls import reverse

from governance.models import Agent, AuditEvent
from tests.adminui.conftest import client_for

pytestmark = pytest.mark.django_db

GET_PAGES = [
    ("adminui:dashboard", {}),
    ("adminui:agents", {}),
    ("adminui:agent", {"name": "procurement-bot"}),
    ("adminui:envelope_edit", {"name": "procurement-bot"}),
    ("adminui:envelope_versions", {"name": "procurement-bot"}),
    ("adminui:envelope_version", {"name": "procurement-bot", "version": 1}),
    ("adminui:envelope_download", {"name": "procurement-bot", "version": 1}),
    ("adminui:audit", {}),
    ("adminui:audit_export", {}),
    ("adminui:anomalies", {}),
    ("adminui:suggestions", {}),
]
POST_ACTIONS = [
    ("adminui:agents", {}),
    ("adminui:agent_rotate", {"name": "procurement-bot"}),
    ("adminui:agent_breaker_reset", {"name": "procurement-bot"}),
    ("adminui:agent_suspend", {"name": "procurement-bot"}),
    ("adminui:agent_resume", {"name": "procurement-bot"}),
    ("adminui:envelope_edit", {"name": "procurement-bot"}),
    ("adminui:envelope_validate", {"name": "procurement-bot"}),
    ("adminui:envelope_replay", {"name": "procurement-bot"}),
    ("adminui:envelope_check", {"name": "procurement-bot"}),
    ("adminui:envelope_template", {"name": "procurement-bot", "slug": "rate-limit"}),
    ("adminui:audit_verify", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), GET_PAGES)
def test_anonymous_people_are_sent_to_log_in(client, procurement, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize(("name", "kwargs"), GET_PAGES)
def test_approvers_and_outsiders_get_403_on_every_page(procurement, alice, charlie, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    for person in (alice, charlie):
        response = client_for(person).get(url)
        assert response.status_code == 403, (person, url)
        assert b"Admins only" in response.content


@pytest.mark.parametrize(("name", "kwargs"), POST_ACTIONS)
def test_approvers_cannot_act_and_nothing_changes(procurement, alice, name, kwargs):
    events = AuditEvent.objects.count()
    response = client_for(alice).post(
        reverse(name, kwargs=kwargs), {"name": "sneaky-bot", "source": "agent: procurement-bot\ncapabilities: []\n"}
    )
    assert response.status_code == 403
    assert AuditEvent.objects.count() == events
    assert not Agent.objects.filter(name="sneaky-bot").exists()
    procurement.agent.refresh_from_db()
    assert procurement.agent.status == "active"
    assert procurement.agent.active_envelope.version == 1


@pytest.mark.parametrize(("name", "kwargs"), GET_PAGES)
def test_admins_see_every_page(procurement, admin_client, name, kwargs):
    response = admin_client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 200, response.content[:500]


def test_inactive_staff_are_refused(procurement, admin_user):
    client = client_for(admin_user)
    admin_user.is_active = False
    admin_user.save()
    response = client.get(reverse("adminui:agents"))
    assert response.status_code in (302, 403)


def test_audit_event_detail_is_admin_only(client, procurement, alice, admin_client):
    url = reverse("adminui:audit_event", args=[AuditEvent.objects.first().pk])
    assert client.get(url).status_code == 302
    assert client_for(alice).get(url).status_code == 403
    assert admin_client.get(url).status_code == 200
