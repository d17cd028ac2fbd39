"""Dashboard numbers: decisions per hour by outcome, approval latency, expiry rate, top violators."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from adminui import dashboard
from governance.decide import DecideInput, decide
from governance.models import DecisionRequest

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)


def ask(agent, when, amount, vendor="vendor:staples"):
    data = DecideInput(action="purchase_order.create", resource=vendor, params={"amount": amount},
                       context={"confidence": 1, "input_source": "config"})
    return decide(agent=agent, data=data, now=when)[0]


def answer(row, status, after: timedelta):
    DecisionRequest.objects.filter(pk=row.pk).update(status=status, decided_at=row.created_at + after)


@pytest.fixture
def history(procurement, make_agent):
    bot, other = procurement.agent, make_agent("pricing-bot").agent
    hour = NOW - timedelta(hours=2)
    ask(bot, hour, 100)  # allowed
    ask(bot, hour + timedelta(minutes=5), 200000)  # denied (violation)
    answer(ask(bot, hour + timedelta(minutes=10), 20000), "approved", timedelta(seconds=45))
    answer(ask(bot, NOW - timedelta(minutes=20), 30000), "rejected", timedelta(minutes=3))
    ask(bot, NOW - timedelta(minutes=10), 40000)  # pending, deadline in 15m: still pending
    ask(bot, NOW - timedelta(hours=1, minutes=5), 25000)  # pending past its deadline: expired
    ask(other, NOW - timedelta(days=1), 500000)  # violation, yesterday
    ask(other, NOW - timedelta(days=1), 600000)
    return bot, other


def test_decisions_per_hour_are_stacked_by_outcome(history):
    chart = dashboard.decisions_per_hour(now=NOW, hours=24)
    assert len(chart["labels"]) == 24 and chart["labels"][-1] == "12:00"
    series = {s["label"]: s["data"] for s in chart["datasets"]}
    assert [s["label"] for s in chart["datasets"]] == ["allowed", "approved", "pending", "rejected", "expired", "denied"]
    assert series["allowed"][-3] == 1 and series["denied"][-3] == 1 and series["approved"][-3] == 1
    assert series["expired"][-2] == 1  # 11:25, past its 15 min deadline
    assert series["rejected"][-1] == 1 and series["pending"][-1] == 1
    assert chart["total"] == 6  # yesterday 12:30 is before the first slot (13:00)


def test_approval_latency_histogram_counts_people_answers_only(history):
    chart = dashboard.approval_latency(now=NOW)
    counts = dict(zip(chart["labels"], chart["data"], strict=True))
    assert counts["< 1 min"] == 1 and counts["2–5 min"] == 1
    assert chart["answered"] == 2
    assert chart["median"] == pytest.approx((45 + 180) / 2)


def test_expiry_rate_is_the_share_of_ended_escalations_that_expired(history):
    chart = dashboard.expiry_rate(now=NOW)
    assert (chart["ended"], chart["expired"]) == (3, 1)
    assert chart["rate"] == pytest.approx(33.3)
    assert chart["data"][-1] == pytest.approx(33.3) and chart["data"][0] is None


def test_top_violators(history):
    chart = dashboard.top_violators(now=NOW)
    assert chart == {"labels": ["pricing-bot", "procurement-bot"], "data": [2, 1]}


def test_page_embeds_the_chart_data_and_vendored_chart_js(admin_client, history):
    response = admin_client.get(reverse("adminui:dashboard"), {"range": "7d"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/adminui/vendor/chart.umd.min.js" in html
    assert "cdn" not in html.lower()
    data = json.loads(html.split('<script id="dashboard-data" type="application/json">')[1].split("</script>")[0])
    assert len(data["decisions"]["labels"]) == 168
    assert set(data) == {"decisions", "latency", "expiry", "violators"}
