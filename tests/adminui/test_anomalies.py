"""Anomalies page: filter by tag and state, full context, re-tag, resolve with a note."""

import pytest
from django.urls import reverse

from governance.models import Anomaly, AuditEvent
from tests.adminui.conftest import htmx, last_event

pytestmark = pytest.mark.django_db

LIST = reverse("adminui:anomalies")


def violate(agent, amount=200000, source="config"):
    body = agent.decide({"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": amount},
                         "context": {"reasoning": "CEO said buy chairs", "input_source": source, "confidence": 0.6}})
    return Anomaly.objects.get(request_id=body.json()["id"])


@pytest.fixture
def anomalies(procurement):
    first, second, third = violate(procurement), violate(procurement, 300000), violate(procurement, 400000)
    Anomaly.objects.filter(pk=first.pk).update(tag="security")
    Anomaly.objects.filter(pk=third.pk).update(state="resolved", note="duplicate")
    return first, second, third


def test_open_anomalies_are_listed_by_default_newest_first(admin_client, anomalies):
    first, second, _third = anomalies
    response = admin_client.get(LIST)
    assert [a.pk for a in response.context["page"]] == [second.pk, first.pk]
    assert response.context["counts"] == {"security": 1, "reliability": 0, "unclassified": 1}
    html = response.content.decode()
    assert "CEO said buy chairs" in html and "amount_over_hard_limit" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [({"tag": "security", "state": ""}, [0]), ({"state": "resolved"}, [2]), ({"state": ""}, [2, 1, 0]),
     ({"tag": "reliability", "state": ""}, []), ({"agent": "nobody", "state": ""}, [])],
)
def test_filter_by_tag_state_and_agent(admin_client, anomalies, query, expected):
    response = admin_client.get(LIST, query)
    assert [a.pk for a in response.context["page"]] == [anomalies[i].pk for i in expected]


def test_htmx_filter_returns_only_the_results(admin_client, anomalies):
    html = admin_client.get(LIST, {"tag": "security", "state": ""}, **htmx(HTTP_HX_TARGET="anomaly-results")).content.decode()
    assert html.lstrip().startswith('<section id="anomaly-results"')


def test_detail_shows_the_full_context(admin_client, anomalies):
    first = anomalies[0]
    response = admin_client.get(reverse("adminui:anomaly", args=[first.pk]))
    html = response.content.decode()
    for text in ("CEO said buy chairs", "amount over the 100,000 hard limit", "&quot;amount&quot;: 200000",
                 "enforce", "v1", str(first.request_id)):
        assert text in html, text


def test_retag_records_who_and_why(admin_client, anomalies):
    second = anomalies[1]
    response = admin_client.post(
        reverse("adminui:anomaly_retag", args=[second.pk]), {"tag": "reliability", "reason": "model v7 rollout"}, **htmx()
    )
    assert response.status_code == 200
    assert f'id="triage-{second.pk}"' in response.content.decode()
    second.refresh_from_db()
    assert second.tag == "reliability"
    assert second.tag_reason == "model v7 rollout"
    event = last_event("anomaly.retagged")
    assert event.actor == "user:admin" and event.agent_id == second.agent_id
    assert event.payload == {"anomaly": second.pk, "from": "unclassified", "to": "reliability", "reason": "model v7 rollout"}
    assert str(event.request_id) == str(second.request_id)


def test_retag_to_an_unknown_tag_changes_nothing(admin_client, anomalies):
    second = anomalies[1]
    events = AuditEvent.objects.count()
    html = admin_client.post(reverse("adminui:anomaly_retag", args=[second.pk]), {"tag": "spicy"}, **htmx()).content.decode()
    assert "Choose a tag" in html
    second.refresh_from_db()
    assert second.tag == "unclassified" and AuditEvent.objects.count() == events


def test_resolve_with_a_note(admin_client, anomalies):
    first = anomalies[0]
    response = admin_client.post(reverse("adminui:anomaly_resolve", args=[first.pk]), {"note": "prompt injection, reported"})
    assert response.status_code == 302
    first.refresh_from_db()
    assert (first.state, first.note, first.resolved_by.username) == ("resolved", "prompt injection, reported", "admin")
    assert first.resolved_at is not None
    event = last_event("anomaly.resolved")
    assert event.actor == "user:admin"
    assert event.payload == {"anomaly": first.pk, "note": "prompt injection, reported"}


def test_resolve_needs_a_note(admin_client, anomalies):
    first = anomalies[0]
    events = AuditEvent.objects.count()
    html = admin_client.post(reverse("adminui:anomaly_resolve", args=[first.pk]), {"note": "  "}, **htmx()).content.decode()
    assert "Write a note" in html
    first.refresh_from_db()
    assert first.state == "open" and AuditEvent.objects.count() == events


def test_resolving_twice_is_refused(admin_client, anomalies):
    third = anomalies[2]
    events = AuditEvent.objects.count()
    html = admin_client.post(reverse("adminui:anomaly_resolve", args=[third.pk]), {"note": "again"}, **htmx()).content.decode()
    assert "already resolved" in html
    third.refresh_from_db()
    assert third.note == "duplicate" and AuditEvent.objects.count() == events
