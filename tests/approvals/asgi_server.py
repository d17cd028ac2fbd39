"""Serve the real ASGI app (uvicorn, http + websockets) in a subprocess on the test database.

The subprocess shares the test run's database (SQLite file or PostgreSQL test database),
Redis and channel prefix, so what the test writes the server sees, and the other way round.
Tests using it need `django_db(transaction=True)`: the server can only see committed rows.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The URL of the database this test is using right now (the test database)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    if connection.vendor == "postgresql":
        auth = quote(s["USER"] or "", safe="")
        if s.get("PASSWORD"):
            auth += ":" + quote(s["PASSWORD"], safe="")
        host = s["HOST"] or "localhost"
        port = f":{s['PORT']}" if s.get("PORT") else ""
        return f"postgres://{auth}@{host}{port}/{s['NAME']}"
    raise RuntimeError(f"no URL for database vendor {connection.vendor}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web_server_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The one command line the tests serve the product with (HTTP and websockets). When the
    production serving configuration changes (docs/deploy.md), change it here."""
    return [sys.executable, "-m", "uvicorn", "airlock.asgi:application", "--host", host,
            "--port", str(port), "--log-level", "warning", "--ws", "websockets", "--no-access-log"]


def production_server_command() -> list[str]:
    """What `make serve` runs (deploy/gunicorn.conf.py: gunicorn, uvicorn workers, the API on
    Django's WSGI handler); PORT, HOST and WEB_CONCURRENCY come from the environment."""
    return [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "airlock.asgi:application"]


@contextlib.contextmanager
def asgi_server(
    *, db_url: str | None = None, env: dict | None = None, log: Path | None = None, production: bool = False
) -> Iterator[str]:
    """Run the product on 127.0.0.1:<free port>; yields the base URL ("http://127.0.0.1:PORT").
    uvicorn as `make run` serves it, or with `production` as `make serve` does (one worker)."""
    port = free_port()
    child_env = {**os.environ, "DATABASE_URL": db_url or database_url(), "DEBUG": "false", **(env or {})}
    child_env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    if production:
        child_env.update(PORT=str(port), HOST="127.0.0.1", WEB_CONCURRENCY=child_env.get("WEB_CONCURRENCY", "1"))
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        production_server_command() if production else web_server_command(port),
        cwd=ROOT, env=child_env, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=production,  # gunicorn's workers go with their master (killpg below)
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Start-up is ~2 s of CPU; on a machine shared by many suites it took 35 s of wall time.
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {process.returncode} (log: {log})")
            try:
                httpx.get(f"{base}/accounts/login/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("uvicorn did not start within 120 s") from None
                time.sleep(0.1)
        yield base
    finally:
        stop = (lambda sig: os.killpg(process.pid, sig)) if production else process.send_signal
        try:
            stop(signal.SIGINT if production else signal.SIGTERM)  # gunicorn: SIGINT is its quick shutdown
            process.wait(3)  # uvicorn waits for open sockets; the test is over, do not linger
        except (subprocess.TimeoutExpired, ProcessLookupError):
            with contextlib.suppress(ProcessLookupError):
                stop(signal.SIGKILL)
            process.wait(5)
        if log:
            out.close()


def websocket_url(base: str, path: str = "/ws/queue/") -> str:
    return base.replace("http://", "ws://", 1) + path


def session_cookie(user) -> str:
    """A real signed-in session for `user` (committed: the server must see it)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def decide_over_http(base: str, token: str, body: dict) -> dict:
    """An agent asking the running server, as a real agent would."""
    response = httpx.post(f"{base}/api/v1/decide", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    return response.json()
