"""bench/suggestions.py runs end to end on a small history and ends with its RESULT line
(a smoke test of the script, not a measurement)."""

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def test_the_suggestions_bench_prints_its_result(postgres):
    settings = connection.settings_dict
    name = f"{settings['NAME']}_suggestions_smoke"[:63]
    server = f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    try:
        run = subprocess.run(
            [sys.executable, "bench/suggestions.py", "--db", f"{server}/{name}", "--rows", "4000", "--rounds", "1"],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert run.returncode == 0, run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT suggestions rows=4000 ") and "large_over_base=" in last
