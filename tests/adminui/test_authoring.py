"""Policy authoring: the JSON check (server compiler, plain words, line and column), rule
templates, preview before activate, "always allow this" and suggestions from history."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from adminui.suggestions import suggestions_find
from approvals.services import approval_decide
from governance.models import AuditEvent, DecisionRequest, Envelope
from tests.adminui.conftest import htmx
from tests.adminui.test_envelope_editor import SOURCE, run_preview
from tests.conftest import ENVELOPES

pytestmark = pytest.mark.django_db

CHECK = reverse("adminui:envelope_check", args=["procurement-bot"])
EDIT = reverse("adminui:envelope_edit", args=["procurement-bot"])
ORDER = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 15000},
         "context": {"confidence": 1, "input_source": "config"}}


def line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


# ---- the JSON check ---------------------------------------------------------------------

def test_check_says_valid_with_a_summary(admin_client, procurement):
    body = admin_client.post(CHECK, {"source": SOURCE}).json()
    assert body["valid"] is True and body["summary"]["capabilities"] == 3


def test_a_yaml_error_has_its_line_column_and_a_plain_hint(admin_client, procurement):
    bad = SOURCE.replace("mode: enforce", "mode: [enforce")
    body = admin_client.post(CHECK, {"source": bad}).json()
    assert body["valid"] is False
    problem = body["errors"][0]
    assert problem["line"] == line_of(bad, "mode: [enforce")  # where the bracket opened
    assert problem["column"] == len("mode: [")
    assert problem["message"].startswith("The YAML cannot be read here")
    assert "not valid YAML" in problem["detail"]  # the compiler's own words ride along


def test_a_cel_error_points_at_the_expression_in_plain_words(admin_client, procurement):
    bad = SOURCE.replace("params.amount > 100000", "params.amount >>> 1")
    problem = admin_client.post(CHECK, {"source": bad}).json()["errors"][0]
    assert problem["field"] == "capabilities[0].deny_when[0]"
    assert problem["line"] == line_of(bad, "params.amount >>> 1")
    text = bad.splitlines()[problem["line"] - 1]
    assert text[problem["column"] - 1] == ">" and text.index("params") < problem["column"] - 1  # at the stray '>'
    assert "near character" in problem["message"]
    assert "is not a valid CEL expression" in problem["message"]
    assert "extraneous input" not in problem["message"]  # parser jargon stays in detail
    assert "params.amount > 10000" in problem["example"]


def test_a_typo_in_a_field_name_points_at_that_line_and_suggests_the_name(admin_client, procurement):
    bad = SOURCE.replace("    escalate_on_novel: [resource]", "    escalate_on_novle: [resource]")
    problem = admin_client.post(CHECK, {"source": bad}).json()["errors"][0]
    assert problem["line"] == line_of(bad, "escalate_on_novle")  # not the capability's first line
    assert "Did you mean 'escalate_on_novel'?" in problem["message"]
    assert problem["field"] == "capabilities[1].escalate_on_novle"


def test_an_unknown_cel_variable_is_named(admin_client, procurement):
    bad = SOURCE.replace("params.amount > 100000", "budget.left < 0")
    problem = admin_client.post(CHECK, {"source": bad}).json()["errors"][0]
    assert "budget" in problem["message"] and "action, resource, params" in problem["message"]


def test_the_editor_page_shows_the_plain_message_and_the_exact_line(admin_client, procurement):
    bad = SOURCE.replace("    action: catalogue.*", "    actoin: catalogue.*")
    html = admin_client.post(reverse("adminui:envelope_validate", args=["procurement-bot"]), {"source": bad}, **htmx()).content.decode()
    assert f"Go to line {line_of(bad, 'actoin')}" in html
    assert "Did you mean &#x27;action&#x27;?" in html


def test_check_without_a_source_is_a_json_400(admin_client, procurement):
    response = admin_client.post(CHECK, {})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


# ---- templates --------------------------------------------------------------------------

def template(client, slug: str, source: str, **fields):
    url = reverse("adminui:envelope_template", args=["new-bot", slug])
    return client.post(url, {"source": source, **{f"{slug}-{k}": v for k, v in fields.items()}})


TEMPLATE_INPUTS = [
    ("allow-list", {"action": "purchase_order.create", "resources": "vendor:staples, vendor:acme"}),
    ("spending-limit", {"action": "purchase_order.create", "param": "amount", "ask_over": "2000", "hard_cap": "50000"}),
    ("business-hours", {"action": "deploy", "days": "Mon-Fri", "start": "09:00", "end": "17:00", "tz": "Europe/London", "outside": "deny"}),
    ("rate-limit", {"action": "deploy", "max": "5", "per": "1h", "over": "escalate"}),
    ("daily-budget", {"action": "purchase_order.create", "param": "amount", "max": "10000", "over": "escalate"}),
    ("protected", {"action": "*", "resources": "db:payments-replica"}),
    ("sequence", {"name": "exposure", "steps": "security_group.open, service.deploy", "within": "30m", "key": "resource", "on_complete": "escalate"}),
    ("approvers", {"approvers": "finance, ops", "quorum": "2", "action": ""}),
]


@pytest.mark.parametrize(("slug", "fields"), TEMPLATE_INPUTS)
def test_every_template_writes_valid_yaml_into_the_starter(admin_client, make_agent, slug, fields):
    make_agent("new-bot", envelope=None)
    starter = admin_client.get(reverse("adminui:envelope_edit", args=["new-bot"])).context["source"]
    response = template(admin_client, slug, starter, **fields)
    assert response.status_code == 200, response.content.decode()[:2000]
    assert response.context["check"].ok, response.context["check"].error
    assert response.context["inserted"]
    assert "# Capability envelope of new-bot" in response.context["source"]  # comments survive
    assert Envelope.objects.filter(agent__name="new-bot").count() == 0  # nothing activated


def test_templates_merge_into_the_capability_of_their_action(admin_client, make_agent):
    make_agent("new-bot", envelope=None)
    source = admin_client.get(reverse("adminui:envelope_edit", args=["new-bot"])).context["source"]
    for slug, fields in TEMPLATE_INPUTS[:2]:
        source = template(admin_client, slug, source, **fields).context["source"]
    compiled = admin_client.post(reverse("adminui:envelope_template", args=["new-bot", "rate-limit"]), {
        "source": source, "rate-limit-action": "purchase_order.create", "rate-limit-max": "3",
        "rate-limit-per": "10m", "rate-limit-over": "deny"}).context["check"].compiled
    (cap,) = compiled.capabilities
    assert cap.resources == ("vendor:staples", "vendor:acme") and cap.velocity["max"] == 3
    assert [r.source for r in cap.escalate_when] == ["params.amount > 2000"]
    assert [r.source for r in cap.deny_when] == ["params.amount > 50000"]


def test_a_bad_template_form_adds_nothing_and_says_why(admin_client, make_agent):
    make_agent("new-bot", envelope=None)
    response = template(admin_client, "spending-limit", "agent: new-bot\ncapabilities: []\n",
                        action="po", param="amount", ask_over="5000", hard_cap="100")
    assert response.status_code == 400
    assert "hard cap must be at least" in response.content.decode()
    assert response.context["source"] == "agent: new-bot\ncapabilities: []\n"


def test_a_template_on_unreadable_yaml_is_refused(admin_client, make_agent):
    make_agent("new-bot", envelope=None)
    response = template(admin_client, "rate-limit", "agent: [new-bot\n", action="x", max="1", per="1m", over="deny")
    assert response.status_code == 400 and "not readable YAML" in response.content.decode()


# ---- preview before activate --------------------------------------------------------------

def test_activate_is_refused_without_a_preview_of_this_exact_draft(admin_client, procurement):
    draft = SOURCE.replace("quorum: 1", "quorum: 2")
    stale = run_preview(admin_client, SOURCE.replace("quorum: 1", "quorum: 3"))
    for posted in ({"source": draft}, {"source": draft, "preview": stale}, {"source": draft, "preview": "forged"}):
        response = admin_client.post(EDIT, posted)
        assert response.status_code == 400
        assert "Run the replay preview of this exact draft first" in response.content.decode()
    assert Envelope.objects.filter(agent=procurement.agent).count() == 1
    page = admin_client.get(EDIT).content.decode()
    assert 'data-testid="activate" form="editor-form" disabled' in page


def test_activate_without_preview_needs_a_reason_and_is_audited(admin_client, procurement):
    draft = SOURCE.replace("quorum: 1", "quorum: 2")
    response = admin_client.post(EDIT, {"source": draft, "skip_preview": "1", "skip_reason": "  "})
    assert response.status_code == 400
    response = admin_client.post(EDIT, {"source": draft, "skip_preview": "1", "skip_reason": "incident 42: tighten now"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(kind="envelope.activated_without_preview")
    assert event.actor == "user:admin" and event.payload == {
        "version": 2, "reason": "incident 42: tighten now", "digest": event.payload["digest"]}
    assert AuditEvent.objects.filter(kind="envelope.activated", payload__version=2).count() == 1


# ---- always allow this ------------------------------------------------------------------

def approved_request(procurement, alice, params=None) -> DecisionRequest:
    answer = procurement.decide({**ORDER, "params": params or ORDER["params"]}).json()
    assert answer["decision"] == "escalate"
    approval_decide(request_id=answer["id"], user=alice, choice="approve")
    return DecisionRequest.objects.get(pk=answer["id"])


def test_always_allow_opens_a_narrow_draft_with_preview_and_activates_nothing(admin_client, procurement, alice):
    approved = approved_request(procurement, alice)
    response = admin_client.get(reverse("adminui:always_allow", args=[approved.pk]))
    assert response.status_code == 200
    check = response.context["check"]
    assert check.ok, check.error
    first = check.compiled.capabilities[0]
    assert first.action == "purchase_order.create" and first.resources == ("vendor:staples",)
    assert [r.source for r in first.escalate_when] == ["!has(params.amount) || double(params.amount) > 15000.0"]
    assert [r.source for r in first.deny_when] == ["params.amount > 100000"]  # the hard cap stays
    html = response.content.decode()
    assert "hx-trigger=\"click, load\"" in html  # the replay preview runs on its own
    assert Envelope.objects.filter(agent=procurement.agent).count() == 1
    # Activated (after its preview), the same order is allowed and a bigger one still asks.
    draft = response.context["source"]
    admin_client.post(EDIT, {"source": draft, "preview": run_preview(admin_client, draft)})
    assert procurement.decide(ORDER).json()["decision"] == "allow"
    assert procurement.decide({**ORDER, "params": {"amount": 15001}}).json()["decision"] == "escalate"
    assert procurement.decide({**ORDER, "resource": "vendor:acme-office"}).json()["decision"] == "escalate"


def test_always_allow_is_only_for_approved_requests(admin_client, procurement):
    pending = procurement.decide(ORDER).json()
    response = admin_client.get(reverse("adminui:always_allow", args=[pending["id"]]))
    assert response.status_code == 409
    assert admin_client.get(reverse("adminui:always_allow", args=["00000000-0000-0000-0000-000000000000"])).status_code == 404


def test_the_agent_page_links_always_allow_for_approved_escalations(admin_client, procurement, alice):
    approved = approved_request(procurement, alice)
    html = admin_client.get(reverse("adminui:agent", args=["procurement-bot"])).content.decode()
    assert reverse("adminui:always_allow", args=[approved.pk]) in html


# ---- suggestions --------------------------------------------------------------------------

def seed(agent, *, action, resource, status, n, amount=100, wait=180, days_ago=1):
    now = timezone.now() - timedelta(days=days_ago)
    DecisionRequest.objects.bulk_create([
        DecisionRequest(agent=agent, action=action, resource=resource, params={"amount": amount + i}, digest="x",
                        decision="escalate", status=status, created_at=now,
                        decided_at=now + timedelta(seconds=wait + i), expires_at=now + timedelta(minutes=15))
        for i in range(n)
    ])


def test_suggestions_find_always_approved_and_always_denied_patterns(procurement):
    agent = procurement.agent
    seed(agent, action="purchase_order.create", resource="vendor:staples", status="approved", n=12, amount=1990)
    seed(agent, action="purchase_order.create", resource="vendor:mixed", status="approved", n=8)
    seed(agent, action="purchase_order.create", resource="vendor:mixed", status="rejected", n=1)
    seed(agent, action="purchase_order.create", resource="vendor:shady", status="rejected", n=6)
    seed(agent, action="purchase_order.create", resource="vendor:old", status="approved", n=9, days_ago=60)
    found = suggestions_find(days=30, min_count=5)
    (allow,) = found["allow"]
    assert (allow.agent, allow.resource, allow.approved, allow.total) == ("procurement-bot", "vendor:staples", 12, 12)
    assert allow.max_amount == 2001
    assert timedelta(seconds=180) <= allow.median_wait <= timedelta(seconds=192)
    assert allow.approver_time == timedelta(seconds=sum(180 + i for i in range(12)))
    (deny,) = found["deny"]
    assert deny.resource == "vendor:shady" and deny.rejected == 6


def test_the_suggestions_page_opens_draft_rules(admin_client, procurement):
    seed(procurement.agent, action="purchase_order.create", resource="vendor:staples", status="approved", n=6, amount=1500)
    seed(procurement.agent, action="purchase_order.create", resource="vendor:shady", status="rejected", n=6)
    page = admin_client.get(reverse("adminui:suggestions"))
    html = page.content.decode()
    assert "6 of 6" in html
    assert "≤ 1,505" in html or "≤ 1505" in html
    allow = admin_client.get(reverse("adminui:suggestion_draft"), {
        "kind": "allow", "agent": "procurement-bot", "action": "purchase_order.create", "resource": "vendor:staples", "amount": "1505"})
    assert allow.status_code == 200 and allow.context["check"].ok
    assert allow.context["check"].compiled.capabilities[0].resources == ("vendor:staples",)
    deny = admin_client.get(reverse("adminui:suggestion_draft"), {
        "kind": "deny", "agent": "procurement-bot", "action": "purchase_order.create", "resource": "vendor:shady"})
    first = deny.context["check"].compiled.capabilities[0]
    assert first.resources == ("vendor:shady",) and first.deny_when[0].code == "always_denied"
    bad = admin_client.get(reverse("adminui:suggestion_draft"), {"kind": "maybe", "agent": "procurement-bot", "action": "x"})
    assert bad.status_code == 400
    assert Envelope.objects.filter(agent=procurement.agent).count() == 1


def test_starter_envelope_is_the_example_file_shape():
    # The commented starter must stay valid for any agent name.
    from adminui.starter import starter_envelope
    from governance.services import envelope_validate

    document, compiled = envelope_validate(starter_envelope("x-bot"))
    assert document["agent"] == "x-bot" and compiled.capabilities == ()
    assert (ENVELOPES / "procurement-bot.yaml").exists()


def test_a_wording_failure_falls_back_to_the_compilers_words(admin_client, procurement, monkeypatch):
    from adminui import explain

    def broken(source, check):
        raise RuntimeError("bug in the wording")

    monkeypatch.setattr(explain, "_explain", broken)
    bad = SOURCE.replace("mode: enforce", "mode: yolo")
    body = admin_client.post(CHECK, {"source": bad}).json()
    assert body["valid"] is False and "mode: 'yolo' is not one of" in body["errors"][0]["message"]


def test_always_allow_never_overrides_protected_resources(admin_client, procurement, alice):
    approved = approved_request(procurement, alice)
    protect = reverse("adminui:envelope_template", args=["procurement-bot", "protected"])
    source = admin_client.post(protect, {"source": SOURCE, "protected-action": "*",
                                         "protected-resources": "vendor:staples"}).context["source"]
    admin_client.post(EDIT, {"source": source, "preview": run_preview(admin_client, source)})
    draft = admin_client.get(reverse("adminui:always_allow", args=[approved.pk])).context["check"].compiled
    assert [c.name for c in draft.capabilities[:2]] == ["protected-resources", f"always-allow-{str(approved.pk)[:8]}"]


def test_every_example_of_right_is_valid_yaml():
    import yaml

    from adminui.explain import CEL_EXAMPLE, EXAMPLES

    for key, example in {**EXAMPLES, "cel": f"- '{CEL_EXAMPLE}'"}.items():
        assert yaml.safe_load(example) is not None, key
