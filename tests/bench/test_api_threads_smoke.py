"""bench/api_threads.py runs end to end (two `make serve` web processes with different
AIRLOCK_API_THREADS, decide_http.py's seeding and load generator) and ends with its RESULT
line: a smoke test of the script, not a measurement."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def test_the_api_threads_bench_prints_its_result(postgres, redis_url):
    settings = connection.settings_dict
    name = f"{settings['NAME']}_bench_threads_smoke"[:63]
    server = f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    try:
        run = subprocess.run(
            [sys.executable, "bench/api_threads.py", "--postgres-url", f"{server}/{name}", "--threads", "4,2",
             "--agents", "1", "--connections", "4", "--rounds", "1", "--seconds", "1", "--warmup", "0.5"],
            cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "REDIS_URL": redis_url},
        )
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT api_threads cpu_ratio_4="), last
    assert " cpu_ratio_2=" in last and " decide_rps_2=" in last and " non200=0 " in last, last
