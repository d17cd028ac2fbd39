"""Agent-supplied text cannot add formatting, mentions, links or lines to the Slack message
(issue 9 point 11), with the reviewer's payloads.

Before: only &, < and > were escaped, and the reasoning, params values and reasons stood in
plain mrkdwn, so an agent could add newlines and a bold `*Pre-approved by CFO*` line, and bare
URLs became links. After: agent text is only ever inside a one-line code span (or the
plain_text header) and every mrkdwn object is verbatim (no auto-linking)."""

import re

import pytest

from tests.integrations.slack.conftest import BIG_ORDER, escalate

pytestmark = pytest.mark.django_db(transaction=True)

FAKE_LINE = "\n\n*Pre-approved by CFO* :white_check_mark:\n"
PAYLOADS = [
    FAKE_LINE,
    "ok\r\n>*Pre-approved by CFO*\u2028_approved_ ~no~",
    "pay now at https://evil.example/pay and www.evil.example",
    "<!channel> <!here|here> @channel",
    "ask <@U123> or <#C123>",
    "<https://evil.example|click> to see the invoice",
    "`code break` *bold*",
]
MARKERS = ("Pre-approved", "evil", "U123", "C123", "channel", "here", "click", "bold", "approved_", "~no~")
CODE_SPAN = re.compile(r"`[^`\n]*`")
DATE_TOKEN = re.compile(r"<!date\^\d+\^[^|>]*\|[^>]*>")


LOOSE = "agent: loose-bot\napprovers: [finance]\ncapabilities:\n  - action: purchase_order.*\n    escalate_when: [\"true\"]\n"


@pytest.fixture
def loose(make_agent):
    """An agent whose envelope checks no params schema: every string reaches the message."""
    return make_agent("loose-bot", LOOSE)


def attack_body(text: str) -> dict:
    return dict(
        BIG_ORDER,
        resource=f"vendor:{text}",
        params={"amount": 47000, "currency": text, "note": text, text: "key"},
        context={"reasoning": text, "input_source": "user"},
    )


def benign_body() -> dict:
    return attack_body("plain words")


def mrkdwn_objects(blocks: list) -> list[dict]:
    found = []
    for block in blocks:
        found += [block["text"]] if "text" in block else []
        found += block.get("fields", [])
        found += [e for e in block.get("elements", []) if e.get("type") in ("mrkdwn", "plain_text")]
    return [o for o in found if o["type"] == "mrkdwn"]


def outside_code(text: str) -> str:
    return CODE_SPAN.sub("", DATE_TOKEN.sub("", text))


def assert_contained(text: str, where: str) -> None:
    """Agent text only inside one-line code spans that it cannot close or escape from."""
    outside = outside_code(text)
    for marker in MARKERS:
        assert marker not in outside, f"{where}: {marker!r} outside a code span in {text!r}"
    assert "`" not in outside.replace("—", ""), f"{where}: unbalanced code span in {text!r}"
    for span in CODE_SPAN.findall(text):
        assert "<" not in span and ">" not in span, f"{where}: unescaped <> in {span!r}"


def shape(message) -> list[int]:
    """Lines per text object: what an agent must not be able to change."""
    return [o["text"].count("\n") for o in mrkdwn_objects(message.blocks)] + [message.text.count("\n")]


@pytest.mark.parametrize("text", PAYLOADS, ids=range(len(PAYLOADS)))
def test_reviewer_payloads_add_no_formatting_mentions_links_or_lines(slack, loose, text):
    escalate(loose, benign_body())
    benign = slack.only_message()
    slack.messages.clear()

    escalate(loose, attack_body(text))
    message = slack.only_message()

    assert shape(message) == shape(benign)
    for obj in mrkdwn_objects(message.blocks):
        assert obj.get("verbatim") is True, obj  # Slack does not auto-link bare URLs or names
        assert_contained(obj["text"], "block")
    assert_contained(message.text, "notification text")
    header = message.blocks[0]["text"]
    assert header["type"] == "plain_text" and "\n" not in header["text"] and "\u2028" not in header["text"]
    # The approver still sees what the agent sent, on one line, literally.
    reasoning = next(o["text"] for o in mrkdwn_objects(message.blocks) if "reasoning" in o["text"])
    shown = " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert shown.replace("`", "'") in reasoning


def test_fake_cfo_line_is_one_literal_code_span(slack, loose):
    escalate(loose, attack_body(FAKE_LINE))

    texts = [o["text"] for o in mrkdwn_objects(slack.only_message().blocks)]
    reasoning = next(t for t in texts if "reasoning" in t)
    assert reasoning.endswith("`*Pre-approved by CFO* :white_check_mark:`")
    assert not any(line.lstrip("•> ").startswith("*Pre-approved") for t in texts for line in t.split("\n"))
