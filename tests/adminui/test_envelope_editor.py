"""Envelope editor: inline validation, diff, replay preview, activation, versions, export."""

import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from governance.models import AuditEvent, Envelope
from tests.adminui.conftest import htmx, last_event
from tests.conftest import ENVELOPES

pytestmark = pytest.mark.django_db

SOURCE = (ENVELOPES / "procurement-bot.yaml").read_text()
EDIT = reverse("adminui:envelope_edit", args=["procurement-bot"])
VALIDATE = reverse("adminui:envelope_validate", args=["procurement-bot"])
REPLAY = reverse("adminui:envelope_replay", args=["procurement-bot"])


def run_preview(client, draft: str, name: str = "procurement-bot") -> str:
    """Run the replay preview of a draft as the page does; the receipt Activate needs."""
    url = reverse("adminui:envelope_replay", args=[name])
    html = client.post(url, {"source": draft, "days": "7"}, **htmx()).content.decode()
    found = re.search(r'name="preview" id="id_preview" form="editor-form" value="([^"]+)"', html)
    assert found, "the preview hands out no receipt"
    return found.group(1)


def test_editor_opens_with_the_active_source(admin_client, procurement):
    response = admin_client.get(EDIT)
    assert response.status_code == 200
    assert response.context["source"] == SOURCE
    assert response.context["check"].ok
    assert response.context["next_version"] == 2
    assert "Activate as v2" in response.content.decode()


def test_an_agent_without_envelope_gets_a_valid_starter(admin_client, make_agent):
    make_agent("new-bot", envelope=None)
    response = admin_client.get(reverse("adminui:envelope_edit", args=["new-bot"]))
    source = response.context["source"]
    assert "\nagent: new-bot\n" in source and source.startswith("# Capability envelope of new-bot")
    assert "capabilities: []" in source and "#   - action: purchase_order.create" in source
    assert response.context["check"].ok


def test_validate_reports_the_error_and_its_line_as_you_type(admin_client, procurement):
    bad = SOURCE.replace("params.amount > 100000", "params.amount >>> 1")
    response = admin_client.post(VALIDATE, {"source": bad}, **htmx(HTTP_HX_TARGET="check"))
    assert response.status_code == 200  # htmx only swaps 2xx
    html = response.content.decode()
    assert "Not valid" in html
    assert "capabilities[0].deny_when[0]: CEL does not compile" in html
    assert "Go to line 23" in html
    # The diff comes along, swapped out of band.
    assert 'id="diff"' in html and 'hx-swap-oob="true"' in html
    assert "params.amount &gt;&gt;&gt; 1" in html


def test_validate_says_valid_and_shows_the_diff(admin_client, procurement):
    draft = SOURCE.replace('"params.amount > 10000"', '"params.amount > 20000"')
    response = admin_client.post(VALIDATE, {"source": draft}, **htmx())
    html = response.content.decode()
    assert "✓" in html and "Valid" in html
    assert '<span class="add-text">+1</span> <span class="del-text">−1</span>' in html
    assert '<tr class="del">' in html and 'when: &quot;params.amount &gt; 10000&quot;' in html
    assert '<tr class="add">' in html and 'when: &quot;params.amount &gt; 20000&quot;' in html


@pytest.mark.parametrize(
    ("draft", "message"),
    [
        ("agent: [unclosed\n", "not valid YAML"),
        (SOURCE.replace("mode: enforce", "mode: yolo"), "mode: 'yolo' is not one of"),
        (SOURCE.replace("agent: procurement-bot", "agent: other-bot"), "this is the editor of 'procurement-bot'"),
        ("", "empty"),
    ],
)
def test_a_bad_save_activates_nothing_and_keeps_the_draft(admin_client, procurement, draft, message):
    events, versions = AuditEvent.objects.count(), Envelope.objects.count()
    response = admin_client.post(EDIT, {"source": draft, "comment": "oops"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Not activated." in html and escape(message) in html
    assert response.context["source"] == draft  # nothing lost
    assert response.context["comment"] == "oops"
    assert (AuditEvent.objects.count(), Envelope.objects.count()) == (events, versions)
    procurement.agent.refresh_from_db()
    assert procurement.agent.active_envelope.version == 1


def test_saving_without_changes_is_refused(admin_client, procurement):
    response = admin_client.post(EDIT, {"source": SOURCE})
    assert response.status_code == 400
    assert "No changes" in response.content.decode()
    assert Envelope.objects.count() == 1


def test_a_valid_save_activates_a_new_version_and_audits_it(admin_client, procurement):
    draft = SOURCE.replace('"params.amount > 10000"', '"params.amount > 20000"').replace("\n", "\r\n")
    receipt = run_preview(admin_client, draft)
    response = admin_client.post(EDIT, {"source": draft, "comment": "raise the limit", "preview": receipt})
    assert response.status_code == 302
    assert response["Location"] == reverse("adminui:envelope_version", args=["procurement-bot", 2])
    procurement.agent.refresh_from_db()
    envelope = procurement.agent.active_envelope
    assert envelope.version == 2
    assert envelope.created_via == "ui" and envelope.created_by.username == "admin"
    assert envelope.comment == "raise the limit"
    assert "\r" not in envelope.source  # stored with plain newlines, as typed
    event = last_event("envelope.activated")
    assert event.actor == "user:admin"
    assert event.payload["version"] == 2 and event.payload["previous_version"] == 1 and event.payload["via"] == "ui"
    # The change is live: 15,000 is no longer escalated.
    body = procurement.decide({"action": "purchase_order.create", "resource": "vendor:staples",
                               "params": {"amount": 15000}, "context": {"confidence": 1, "input_source": "config"}})
    assert body.json()["decision"] == "allow"


def test_replay_preview_lists_changed_answers(admin_client, procurement):
    order = {"action": "purchase_order.create", "resource": "vendor:staples",
             "params": {"amount": 15000}, "context": {"confidence": 1, "input_source": "config"}}
    assert procurement.decide(order).json()["decision"] == "escalate"
    assert procurement.decide({**order, "params": {"amount": 50}}).json()["decision"] == "allow"
    draft = SOURCE.replace('"params.amount > 10000"', '"params.amount > 20000"')
    response = admin_client.post(REPLAY, {"source": draft, "days": "7"}, **htmx())
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>1</strong> of 2 answers would change" in html
    assert '<td class="changed">1</td>' in html  # escalate (row) -> allow (column)
    assert "purchase_order.create" in html and "within_envelope" in html
    assert Envelope.objects.count() == 1  # a preview activates nothing


def test_replay_of_an_invalid_draft_asks_to_fix_it_first(admin_client, procurement):
    response = admin_client.post(REPLAY, {"source": "agent: procurement-bot\n", "days": "7"}, **htmx())
    assert "Fix the draft first" in response.content.decode()


def test_replay_days_are_bounded(admin_client, procurement):
    response = admin_client.post(REPLAY, {"source": SOURCE, "days": "3650"}, **htmx())
    html = response.content.decode()
    assert "days: Ensure this value is less than or equal to 90" in html
    assert "would change" not in html


def test_every_version_is_viewable_and_exportable(admin_client, procurement):
    draft = SOURCE.replace("quorum: 1", "quorum: 2")
    admin_client.post(EDIT, {"source": draft, "preview": run_preview(admin_client, draft)})
    v1 = admin_client.get(reverse("adminui:envelope_version", args=["procurement-bot", 1]))
    assert v1.status_code == 200 and v1.context["is_active"] is False
    v2 = admin_client.get(reverse("adminui:envelope_version", args=["procurement-bot", 2]))
    assert v2.context["is_active"] is True
    assert [(d.kind, d.text) for d in v2.context["diff"] if d.kind != "same" and d.kind != "hunk"] == [
        ("del", "quorum: 1"), ("add", "quorum: 2")
    ]
    download = admin_client.get(reverse("adminui:envelope_download", args=["procurement-bot", 1]))
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="procurement-bot.v1.yaml"'
    assert download.content.decode() == SOURCE
    listing = admin_client.get(reverse("adminui:envelope_versions", args=["procurement-bot"]))
    assert [v.version for v in listing.context["versions"]] == [2, 1]


def test_an_old_version_loads_into_the_editor_for_rollback(admin_client, procurement):
    draft = SOURCE.replace("quorum: 1", "quorum: 2")
    admin_client.post(EDIT, {"source": draft, "preview": run_preview(admin_client, draft)})
    response = admin_client.get(EDIT + "?from=1")
    assert response.context["source"] == SOURCE
    assert response.context["added"] == 1  # against the active v2
    response = admin_client.post(EDIT, {"source": SOURCE, "comment": "roll back", "preview": run_preview(admin_client, SOURCE)})
    procurement.agent.refresh_from_db()
    assert procurement.agent.active_envelope.version == 3
    assert procurement.agent.active_envelope.source == SOURCE
