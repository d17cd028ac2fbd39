"""The Prometheus metrics (prometheus-client).

Counters and histograms are updated where things happen (web processes, Celery workers).
With PROMETHEUS_MULTIPROC_DIR set (scripts/run.py and deploy/ set it) every process writes
its samples to files in that directory and one scrape of any web process sums them all:
prometheus-client's multiprocess mode. The gauges (pending escalations, expiry lag) are not
kept in any process: they are read from the database at scrape time, so they are right
however many processes there are and whichever of them restarted.
"""

import os

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

# The classic text format: every Prometheus version (and most other scrapers) reads it.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

DECISIONS = Counter(
    "airlock_decisions_total", "Decisions answered by POST /api/v1/decide.", ["decision", "agent"]
)
DECIDE_SECONDS = Histogram(
    "airlock_decide_seconds", "Time to answer POST /api/v1/decide (whole request, any outcome).",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
APPROVAL_WAIT = Histogram(
    "airlock_approval_wait_seconds", "From escalation to its outcome (approved, rejected, expired).",
    ["outcome"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 604800),
)
BREAKER_TRIPS = Counter("airlock_breaker_trips_total", "Circuit-breaker trips (agents put in supervised mode).")
NOTIFICATIONS_FAILED = Counter(
    "airlock_notifications_failed_total", "Notifications given up on (after retries), by channel.", ["channel"]
)


class DatabaseGauges:
    """Gauges computed from the database at scrape time (one query)."""

    def collect(self):
        from governance.models import DecisionRequest

        pending = GaugeMetricFamily("airlock_escalations_pending", "Escalations waiting for a human (status pending).")
        lag = GaugeMetricFamily(
            "airlock_expiry_lag_seconds",
            "How far past its deadline the oldest still-pending escalation is (0: expiry keeps up).",
        )
        up = GaugeMetricFamily("airlock_metrics_database_up", "1 when the scrape could read the database.")
        now = timezone.now()
        try:
            rows = DecisionRequest.objects.filter(status="pending", escalation__isnull=False)
            summary = rows.aggregate(oldest=Min("expires_at"), count=Count("pk"))
        except Exception:  # noqa: BLE001 - a scrape must still answer; the gauge says why
            up.add_metric([], 0)
            yield up
            return
        pending.add_metric([], summary["count"])
        oldest = summary["oldest"]
        lag.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        up.add_metric([], 1)
        yield pending
        yield lag
        yield up


def metrics_text() -> bytes:
    """The exposition for one scrape: every process's samples plus the database gauges."""
    database = CollectorRegistry(auto_describe=True)
    database.register(DatabaseGauges())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry) + generate_latest(database)
    return generate_latest(REGISTRY) + generate_latest(database)
