"""Audit trail page: filters, keyset pagination, chain verification, JSON Lines export."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.urls import reverse

from adminui.audit_trail import AuditFilter, audit_page, cursor_of, cursor_parse
from governance.audit import audit_record
from governance.models import AuditEvent
from tests.adminui.conftest import htmx, last_event

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AUDIT = reverse("adminui:audit")


def record(kind, *, actor="system:test", agent=None, at=None, **payload):
    with transaction.atomic():
        return audit_record(kind=kind, actor=actor, agent=agent, payload=payload, at=at or T0)


@pytest.fixture
def trail(procurement, make_agent):
    """procurement-bot's and pricing-bot's events on a fixed timeline, several sharing a timestamp."""
    pricing = make_agent("pricing-bot").agent
    AuditEvent.objects.all().delete()  # only the events below (chains restart; not verified here)
    events = []
    for i in range(30):
        # Every third pair shares one instant: ties must neither repeat nor vanish across pages.
        at = T0 + timedelta(minutes=i // 3)
        agent = procurement.agent if i % 2 else pricing
        kind = ("decision.allow", "decision.escalate", "envelope.activated")[i % 3]
        events.append(record(kind, actor=f"agent:{agent.name}", agent=agent, at=at, n=i))
    events.append(record("admin.audit_verified", actor="user:admin", at=T0 + timedelta(hours=1), n=30))
    return events


def walk(filters: AuditFilter, size: int) -> list[int]:
    seen, before = [], ""
    while True:
        page = audit_page(filters=filters, before=before, size=size)
        seen += [e.payload["n"] for e in page.events]
        if not page.older:
            return seen
        before = page.older


def test_pages_cover_every_event_once_newest_first(trail):
    order = walk(AuditFilter(), size=4)
    expected = [e.payload["n"] for e in sorted(trail, key=lambda e: (e.created_at, e.pk), reverse=True)]
    assert order == expected
    assert len(set(order)) == 31


def test_paging_back_to_newer_events_returns_the_same_pages(trail):
    first = audit_page(filters=AuditFilter(), size=5)
    second = audit_page(filters=AuditFilter(), before=first.older, size=5)
    back = audit_page(filters=AuditFilter(), after=second.newer, size=5)
    assert [e.pk for e in back.events] == [e.pk for e in first.events]
    assert back.newer is None  # that was the newest page


def test_filters_by_agent_kind_family_actor_and_time(trail, procurement):
    assert set(walk(AuditFilter(agent=procurement.agent), 50)) == {i for i in range(30) if i % 2}
    assert set(walk(AuditFilter(kind="envelope.activated"), 50)) == {i for i in range(30) if i % 3 == 2}
    assert set(walk(AuditFilter(kind="decision.*"), 50)) == {i for i in range(30) if i % 3 != 2}
    assert walk(AuditFilter(actor="user:admin"), 50) == [30]
    window = AuditFilter(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4))
    assert sorted(walk(window, 50)) == [6, 7, 8, 9, 10, 11]


def test_cursor_round_trips_to_the_microsecond(trail):
    event = trail[5]
    event.created_at = event.created_at.replace(microsecond=999_999)
    at, pk = cursor_parse(cursor_of(event))
    assert (at, pk) == (event.created_at, event.pk)
    assert cursor_parse("garbage") is None and cursor_parse("12-x") is None


def test_page_filters_from_the_query_string(admin_client, trail, procurement):
    response = admin_client.get(AUDIT, {"agent": "procurement-bot", "kind": "decision.*"})
    assert response.status_code == 200
    events = response.context["page"].events
    assert events and all(e.agent_id == procurement.agent.pk and e.kind.startswith("decision.") for e in events)
    html = response.content.decode()
    assert "export.jsonl?agent=procurement-bot&amp;kind=decision.%2A" in html


def test_htmx_filtering_returns_only_the_results(admin_client, trail):
    response = admin_client.get(AUDIT, {"kind": "admin.*"}, **htmx(HTTP_HX_TARGET="audit-results"))
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="audit-results"')
    assert "admin.audit_verified" in html and "decision.allow" not in html


def test_next_page_link_carries_the_filter(admin_client, trail, monkeypatch):
    monkeypatch.setattr("adminui.audit_trail.PAGE_SIZE", 5)
    html = admin_client.get(AUDIT, {"kind": "decision.*"}).content.decode()
    older = html.split('data-testid="older" href="')[1].split('"')[0]
    assert older.startswith("?kind=decision.%2A&amp;before=")


def test_a_bad_time_range_is_explained(admin_client, trail):
    response = admin_client.get(AUDIT, {"since": "2026-03-02T10:00", "until": "2026-03-02T09:00"})
    assert response.status_code == 200
    assert "From" in response.content.decode() and response.context["page"] is None


def test_verify_reports_an_intact_chain_and_is_audited(admin_client, procurement):
    response = admin_client.post(reverse("adminui:audit_verify"), **htmx())
    html = response.content.decode()
    assert 'data-testid="chain-status">intact' in html
    event = last_event("admin.audit_verified")
    assert event.actor == "user:admin" and event.payload["intact"] is True


def test_verify_finds_an_edited_event(admin_client, procurement):
    victim = AuditEvent.objects.filter(kind="agent.created").first()
    AuditEvent.objects.filter(pk=victim.pk).update(payload={"name": "someone-else"})
    html = admin_client.post(reverse("adminui:audit_verify"), **htmx()).content.decode()
    assert 'data-testid="chain-status">broken' in html
    assert f"event {victim.pk}" in html and "edited" in html
    assert last_event("admin.audit_verified").payload["intact"] is False


def test_export_streams_json_lines_of_the_filter_and_is_audited(admin_client, trail, procurement):
    response = admin_client.get(reverse("adminui:audit_export"), {"agent": "procurement-bot", "kind": "decision.*"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    expected = [e for e in trail if e.agent_id == procurement.agent.pk and e.kind.startswith("decision.")]
    assert [line["id"] for line in lines] == [e.pk for e in sorted(expected, key=lambda e: (e.created_at, e.pk))]
    assert set(lines[0]) >= {"id", "chain", "seq", "at", "kind", "actor", "payload", "prev_hash", "hash"}
    event = last_event("admin.audit_exported")
    assert event.actor == "user:admin"
    assert event.payload == {"agent": "procurement-bot", "kind": "decision.*"}


def test_export_refuses_a_bad_filter(admin_client, trail):
    response = admin_client.get(reverse("adminui:audit_export"), {"since": "yesterday"})
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(kind="admin.audit_exported").exists()


def test_an_events_payload_and_hashes_load_when_its_row_opens(admin_client, trail):
    event = trail[4]
    html = admin_client.get(AUDIT).content.decode()
    assert f'hx-get="/admin/audit/{event.pk}/"' in html
    assert event.hash not in html  # not rendered up front: pages stay light
    detail = admin_client.get(reverse("adminui:audit_event", args=[event.pk]), **htmx()).content.decode()
    assert event.hash in detail and event.prev_hash in detail and "&quot;n&quot;: 4" in detail


def test_kind_families_come_from_the_trail(trail):
    from adminui.audit_trail import audit_kinds, kind_choices

    assert audit_kinds() == ["admin.audit_verified", "decision.allow", "decision.escalate", "envelope.activated"]
    assert kind_choices() == ["admin.*", "admin.audit_verified", "decision.*", "decision.allow",
                              "decision.escalate", "envelope.*", "envelope.activated"]
    assert walk(AuditFilter(kind="breaker.*"), 50) == []  # a family with no events


def test_verify_one_agents_chain_only(admin_client, procurement, make_agent):
    other = make_agent("pricing-bot").agent
    victim = AuditEvent.objects.filter(agent=other).first()
    AuditEvent.objects.filter(pk=victim.pk).update(payload={"edited": True})
    verify = reverse("adminui:audit_verify")
    html = admin_client.post(verify, {"agent": "procurement-bot"}, **htmx()).content.decode()
    assert 'data-testid="chain-status">intact' in html, html
    assert "procurement-bot's chain: 2 events in 1 chain" in html
    assert last_event("admin.audit_verified").payload["scope"] == f"agent:{procurement.agent.pk}"
    html = admin_client.post(verify, {"agent": "pricing-bot"}, **htmx()).content.decode()
    assert 'data-testid="chain-status">broken' in html and f"event {victim.pk}" in html
