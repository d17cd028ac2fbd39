"""bench/suggestions.py runs end to end on a small history and ends with its RESULT line
(a smoke test of the script, not a measurement)."""

import pytest

from tests.bench.scratch import run_bench

pytestmark = pytest.mark.postgres


def test_the_suggestions_bench_prints_its_result(postgres):
    run = run_bench("suggestions.py", "suggestions_smoke", "--rows", "4000", "--rounds", "1", url_flag="--db")
    assert run.returncode == 0, run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT suggestions rows=4000 ") and "large_over_base=" in last
