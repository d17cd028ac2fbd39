"""Running a bench script end to end against a scratch PostgreSQL database of its own (the
smoke tests of the benches: they check the script runs and prints its RESULT line)."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, suffix: str, *args: str, url_flag: str = "--postgres-url",
              env: dict | None = None) -> subprocess.CompletedProcess:
    """Run bench/<script> with `url_flag` pointing at a database named after this session's
    test database plus `suffix` (the script creates it), and drop that database after."""
    settings = connection.settings_dict
    name = f"{settings['NAME']}_{suffix}"[:63]
    server = f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    try:
        return subprocess.run(
            [sys.executable, f"bench/{script}", url_flag, f"{server}/{name}", *args],
            cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
        )
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
