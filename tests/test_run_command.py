"""`make run` (scripts/run.py) as a user runs it: embedded Redis + SQLite in a fresh var/,
honours PORT, prints credentials once, answers the API, and stops every child on SIGTERM; a
child that dies is restarted with backoff."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def start(var: Path, port: int, extra: dict | None = None) -> tuple[subprocess.Popen, Path]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "AIRLOCK_CELERY_QUEUE", "AIRLOCK_CHANNEL_PREFIX")}
    env.update(AIRLOCK_VAR_DIR=str(var), PORT=str(port), **(extra or {}))
    log = var.parent / f"run-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "run.py")], cwd=ROOT, env=env,
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    return proc, log


def wait_up(proc, log: Path, port: int) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        if "Airlock is up" in log.read_text():
            try:
                if httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).status_code == 200:
                    return log.read_text()
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    raise AssertionError(f"not up in time:\n{log.read_text()}")


def stop(proc, log: Path) -> list[int]:
    pids = [int(p) for p in re.findall(r"started \w+ \(pid (\d+)\)", log.read_text())]
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [pid for pid in pids if alive(pid)]


def test_make_run_serves_the_api_and_stops_every_child(tmp_path):
    var, port = tmp_path / "var", free_port()
    proc, log = start(var, port)
    try:
        output = wait_up(proc, log, port)
        token = re.search(r"agent procurement-bot token: (alk_\S+)", output).group(1)
        assert re.search(r"admin \(staff\)\s+admin / \S+", output)
        assert "curl -s" in output
        assert (var / "redis.sock").exists() and (var / "airlock.sqlite3").exists()
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/decide",
            json={"action": "purchase_order.create", "resource": "vendor:acme-furniture", "params": {"amount": 47000}},
            headers={"Authorization": f"Bearer {token}"}, timeout=10,
        )
        assert answer.status_code == 200
        assert answer.json()["decision"] == "escalate"
        bad = httpx.post(f"http://127.0.0.1:{port}/api/v1/decide", json={"action": "x"},
                         headers={"Authorization": "Bearer alk_000000000000_nope"}, timeout=10)
        assert bad.status_code == 401
    finally:
        survivors = stop(proc, log)
    assert proc.returncode == 0, log.read_text()
    assert survivors == [], f"still running after SIGTERM: {survivors}"

    # Again on the same var/: no new credentials, same data, still works.
    proc, log = start(var, port)
    try:
        output = wait_up(proc, log, port)
        assert "Demo data already exists" in output
        assert "procurement-bot token: alk_" not in output
        again = httpx.post(f"http://127.0.0.1:{port}/api/v1/decide", json={"action": "catalogue.read"},
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert again.json()["decision"] == "allow"
    finally:
        survivors = stop(proc, log)
    assert survivors == []


# --- supervision (issue 9 point 9) ---------------------------------------------------------


def started(log: Path, name: str) -> list[int]:
    return [int(p) for p in re.findall(rf"started {name} \(pid (\d+)\)", log.read_text())]


def processes_of(var: Path) -> list[int]:
    """Every live process whose environment names this var/: the children of `make run`, the
    helpers they forked (Celery's pool) and any orphan they left behind."""
    marker = f"AIRLOCK_VAR_DIR={var}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0") and alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_for(predicate, what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()}")


def answers(port: int, token: str) -> bool:
    """The service answers again: the login page and an agent's allow (database, Redis-backed
    throttles and the rest of the decide path)."""
    try:
        page = httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=3)
        decision = httpx.post(f"http://127.0.0.1:{port}/api/v1/decide", json={"action": "catalogue.read"},
                              headers={"Authorization": f"Bearer {token}"}, timeout=5)
    except httpx.HTTPError:
        return False
    return page.status_code == 200 and decision.status_code == 200 and decision.json().get("decision") == "allow"


def test_backoff_doubles_up_to_the_cap_and_resets_after_a_long_run():
    from scripts.run import Backoff

    backoff = Backoff(base=0.5, cap=4.0, reset_after=60.0)
    # Crashing at once, again and again: 0.5, 1, 2, 4, then capped at 4.
    delays = [backoff.next_delay(started_at=100.0, now=101.0) for _ in range(6)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    # A child that stayed up for the reset period starts again from the shortest delay.
    assert backoff.next_delay(started_at=100.0, now=160.0) == 0.5
    assert backoff.next_delay(started_at=160.0, now=161.0) == 1.0


@pytest.mark.worker
def test_make_run_restarts_each_killed_child_and_still_stops_everything(tmp_path, postgres):
    """SIGKILL redis-server, the worker, beat and the web server in turn: each comes back (new
    pid, logged with its backoff), the service answers again after each, and SIGTERM at the end
    leaves no process of this var/ alive, the restarted ones and Celery's pool included.
    Before: `make run` stopped everything when any child died (the reviewer's 794/1,200
    requests refused after killing the embedded Redis). Runs in the PostgreSQL pass only (slow);
    `make run` uses its own database there, so DATABASE_URL is honoured too."""
    var, port = tmp_path / "var", free_port()
    extra, dropdb = run_database()
    proc, log = start(var, port, extra)
    try:
        output = wait_up(proc, log, port)
        token = re.search(r"agent procurement-bot token: (alk_\S+)", output).group(1)
        assert answers(port, token)
        for name in ("redis", "worker", "beat", "web"):
            old = started(log, name)[-1]
            os.kill(old, signal.SIGKILL)
            wait_for(lambda n=name, o=old: started(log, n)[-1] != o and alive(started(log, n)[-1]),
                     f"{name} restarted", log)
            assert re.search(rf"{name} \(pid {old}\) exited with code -9; restarting in [\d.]+s", log.read_text())
            wait_for(lambda: answers(port, token), f"service back after killing {name}", log, timeout=90)
            assert proc.poll() is None, log.read_text()
        # Everything from the first start is gone or restarted: one live process per child.
        for name in ("redis", "web", "worker", "beat"):
            pids = started(log, name)
            assert len(pids) == 2 and not alive(pids[0]) and alive(pids[1]), (name, pids)
    finally:
        survivors = stop(proc, log)
        dropdb()
    assert proc.returncode == 0, log.read_text()
    assert survivors == []
    assert processes_of(var) == [], "processes of this make run still alive after SIGTERM"


def run_database():
    """Under the PostgreSQL pass: a database of its own for `make run` (dropped afterwards)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return {}, lambda: None
    import psycopg

    base, _, name = url.rpartition("/")
    name = f"{name.split('?')[0]}_makerun"
    admin = f"{base}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return {"DATABASE_URL": f"{base}/{name}"}, drop


@pytest.mark.worker
def test_children_do_not_outlive_a_killed_supervisor(tmp_path, postgres):
    """SIGKILL `make run` itself (no chance to clean up): its children get SIGTERM from the
    kernel (PR_SET_PDEATHSIG) and stop, and a new `make run` on the same var/ comes up."""
    var, port = tmp_path / "var", free_port()
    proc, log = start(var, port)
    try:
        wait_up(proc, log, port)
        assert processes_of(var)
        proc.kill()
        proc.wait(10)
        wait_for(lambda: processes_of(var) == [], "every child gone after the supervisor died", log, timeout=30)
    finally:
        if proc.poll() is None:
            stop(proc, log)
    proc, log = start(var, port)
    try:
        assert "Demo data already exists" in wait_up(proc, log, port)
    finally:
        survivors = stop(proc, log)
    assert survivors == [] and processes_of(var) == []
