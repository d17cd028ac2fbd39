"""A fast smoke run of bench/shadow_overhead.py: it runs and prints its RESULT line (no
timing is asserted; the bench's own numbers are in bench/README.md)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_shadow_overhead_bench_runs():
    # SQLite in memory: the bench creates its own test database, which must never be the
    # one this test session runs on.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AIRLOCK_REQUIRE_POSTGRES")}
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "shadow_overhead.py"), "--rounds", "1", "--per-round", "5"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = next(line for line in out.stdout.splitlines() if line.startswith("RESULT shadow_overhead "))
    fields = dict(item.split("=", 1) for item in result.split()[2:])
    # One engine evaluation more with a shadow, and the same reads when it asks the same questions.
    assert (fields["evals_none"], fields["evals_same"]) == ("1.00", "2.00")
    assert fields["select_same"] == fields["select_none"]
