"""`make run` (scripts/run.py) as a user runs it: embedded Redis + SQLite in a fresh var/,
honours PORT, prints credentials once, answers the API, and stops every child on SIGTERM."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

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


def start(var: Path, port: int) -> tuple[subprocess.Popen, Path]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "AIRLOCK_CELERY_QUEUE", "AIRLOCK_CHANNEL_PREFIX")}
    env.update(AIRLOCK_VAR_DIR=str(var), PORT=str(port))
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
