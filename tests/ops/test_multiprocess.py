"""Metrics written by several processes are summed by one scrape (prometheus-client multiprocess)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ops.metrics import metrics_text

ROOT = Path(__file__).resolve().parent.parent.parent
CHILD = """
from ops import metrics
for _ in range({n}):
    metrics.DECISIONS.labels(decision="allow", agent="mp-bot").inc()
    metrics.DECIDE_SECONDS.observe(0.01)
metrics.APPROVAL_WAIT.labels(outcome="expired").observe(900)
"""


@pytest.mark.django_db
def test_one_scrape_sums_every_process(tmp_path, monkeypatch):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    for n in (2, 3):  # two processes, as two web processes (or a web and a worker) would be
        subprocess.run([sys.executable, "-c", CHILD.format(n=n)], cwd=ROOT, env=env, check=True, timeout=60)
    assert len(list(directory.glob("*.db"))) >= 2
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics_text().decode())
        for s in family.samples
    }
    assert values[("airlock_decisions_total", (("agent", "mp-bot"), ("decision", "allow")))] == 5
    assert values[("airlock_decide_seconds_count", ())] == 5
    assert values[("airlock_approval_wait_seconds_sum", (("outcome", "expired"),))] == 1800
    assert values[("airlock_escalations_pending", ())] == 0  # from the database, not the files
