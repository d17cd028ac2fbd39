"""A real Celery worker (optionally with beat) in a subprocess, on the test database.

Use the `celery_worker` fixture (re-exported by tests/approvals/conftest.py; import it into
another conftest with `from tests.worker import celery_worker  # noqa: F401`). It returns a
function `start(beat=False, env=None)` so a test can start the worker when it wants (e.g.
after a deadline passed). Tests need `django_db(transaction=True)`: the worker only sees
committed rows. The worker runs the test run's queue (AIRLOCK_CELERY_QUEUE) on the test Redis.
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60


class Worker:
    """A running worker process and its captured log."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if " ready." in line:
                self.ready.set()

    def log(self) -> str:
        return "\n".join(self.lines[-80:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown: finishes the running task
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._reader.join(5)


def purge_queue() -> int:
    """Drop every message waiting in this run's queue (e.g. to simulate lost ETA tasks).
    Messages a running worker already holds are not affected."""
    from airlock.celery import app

    with app.connection_for_write() as conn:
        return conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE) or 0


def start_worker(name: str, *, beat: bool = False, schedule: Path | None = None, env: dict | None = None) -> Worker:
    """Start a worker (hostname `name`) on this run's queue and the test database; returns it
    once it says it is ready. `beat` runs the beat sweeps in it too (schedule file: `schedule`)."""
    child_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.subprocess_settings",
        "AIRLOCK_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "airlock", "worker",
        "--pool=threads", "--concurrency=4", "--loglevel=INFO",
        "--queues", settings.CELERY_TASK_DEFAULT_QUEUE,
        "--hostname", f"{name}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    if beat:
        command += ["--beat", "--schedule", str(schedule)]
    process = subprocess.Popen(command, cwd=ROOT, env=child_env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    worker = Worker(process)
    deadline = time.monotonic() + READY_TIMEOUT
    while not worker.ready.wait(0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            pytest.fail(f"celery worker did not start:\n{worker.log()}", pytrace=False)
    return worker


@pytest.fixture
def celery_worker(transactional_db, redis_url, tmp_path):
    workers: list[Worker] = []

    def start(*, beat: bool = False, env: dict | None = None) -> Worker:
        if not workers:
            purge_queue()  # messages left by earlier tests name rows that no longer exist
        worker = start_worker(f"test{os.getpid()}-{len(workers)}", beat=beat,
                              schedule=tmp_path / f"beat-{len(workers)}", env=env)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
