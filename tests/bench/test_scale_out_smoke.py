"""bench/scale_out.py runs end to end (two `make serve` web processes with one worker each,
decide_http.py's seeding and load generator) and ends with its RESULT line: a smoke test of
the script, not a measurement."""

import pytest

from tests.bench.scratch import run_bench

pytestmark = pytest.mark.postgres


def test_the_scale_out_bench_prints_its_result(postgres, redis_url):
    run = run_bench(
        "scale_out.py", "bench_scale_smoke", "--agents", "1", "--connections", "4", "--rounds", "1",
        "--seconds", "1", "--warmup", "0.5", env={"REDIS_URL": redis_url},
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT scale_out procs2_vs_1=") and " non200=0 " in last and " audit_ok=1 " in last
