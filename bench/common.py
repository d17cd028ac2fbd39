"""What several benches share: their own PostgreSQL database, Django set up in-process, a Redis
URL (the machine's, else an embedded one), the environment of a server subprocess, free ports."""

import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def ensure_database(url: str, *, fresh: bool) -> None:
    """Create the database `url` names if it is missing; with `fresh`, drop it first."""
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airlock.settings")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def redis_url() -> str:
    """$REDIS_URL or the machine's Redis if either answers, else an embedded redis-server."""
    import redis

    for url in filter(None, [os.environ.get("REDIS_URL"), "redis://127.0.0.1:6379/0"]):
        try:
            redis.Redis.from_url(url, socket_timeout=1).ping()
            return url
        except redis.RedisError:
            continue
    sys.path.insert(0, str(ROOT))
    from tests.embedded_services import _start_embedded_redis

    return _start_embedded_redis()


def server_environment(name: str, db: str, pg_url: str) -> dict:
    """The environment of a bench's server and manage.py subprocesses: its own var dir, Celery
    queue and channel prefix (`airlock-<name>`), on PostgreSQL a fresh `pg_url` database, on
    SQLite a fresh file in that var dir."""
    var_dir = ROOT / "var" / name
    var_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CI")}
    env.update(DJANGO_SETTINGS_MODULE="airlock.settings", AIRLOCK_VAR_DIR=str(var_dir), DEBUG="false",
               LOG_LEVEL="WARNING", REDIS_URL=redis_url(), AIRLOCK_CELERY_QUEUE=f"airlock-{name}",
               AIRLOCK_CHANNEL_PREFIX=f"airlock-{name}")
    if db == "postgres":
        ensure_database(pg_url, fresh=True)
        env["DATABASE_URL"] = pg_url
    else:
        for f in var_dir.glob("airlock.sqlite3*"):
            f.unlink()
    return env


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
