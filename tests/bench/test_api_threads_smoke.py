"""bench/api_threads.py runs end to end (two `make serve` web processes with different
AIRLOCK_API_THREADS, decide_http.py's seeding and load generator) and ends with its RESULT
line: a smoke test of the script, not a measurement."""

import pytest

from tests.bench.scratch import run_bench

pytestmark = pytest.mark.postgres


def test_the_api_threads_bench_prints_its_result(postgres, redis_url):
    run = run_bench(
        "api_threads.py", "bench_threads_smoke", "--threads", "4,2", "--agents", "1", "--connections", "4",
        "--rounds", "1", "--seconds", "1", "--warmup", "0.5", env={"REDIS_URL": redis_url},
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT api_threads cpu_ratio_4="), last
    assert " cpu_ratio_2=" in last and " decide_rps_2=" in last and " non200=0 " in last, last
