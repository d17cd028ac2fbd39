"""`manage.py audit_export --follow`: JSON Lines as events happen, resumable by id, stops cleanly."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from governance.audit_export import AuditFollower
from governance.models import AuditEvent

ROOT = Path(__file__).resolve().parent.parent.parent
ALLOW = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 5}}


def raw_event(event_id: int) -> AuditEvent:
    """A row with a chosen id, as a transaction committing out of order would leave it."""
    return AuditEvent.objects.create(
        id=event_id, chain="test", seq=event_id, prev_hash="0" * 64, hash="1" * 64,
        kind="test.event", actor="system:test", payload={}, created_at=timezone.now(),
    )


@pytest.mark.django_db
def test_follower_waits_for_a_gap_then_passes_it():
    clock = [0.0]
    raw_event(1)
    raw_event(2)
    raw_event(4)  # id 3 is not committed (yet)
    follower = AuditFollower(after_id=0, gap_wait=5, clock=lambda: clock[0])
    assert [e.id for e in follower.poll()] == [1, 2]
    clock[0] = 4.9
    assert follower.poll() == []  # still waiting for 3
    raw_event(3)
    assert [e.id for e in follower.poll()] == [3, 4]  # 3 committed late: not lost
    raw_event(7)  # 5 and 6 rolled back: never come
    assert follower.poll() == []  # gap first seen at 4.9
    clock[0] = 9.8
    assert follower.poll() == []
    clock[0] = 9.9
    assert [e.id for e in follower.poll()] == [7]
    assert follower.cursor == 7


@pytest.mark.django_db
def test_one_shot_export_resumes_after_an_id(procurement, capsys):
    procurement.decide(ALLOW)
    procurement.decide(ALLOW)
    call_command("audit_export")
    every = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    call_command("audit_export", "--after-id", str(every[0]["id"]))
    rest = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["id"] for e in rest] == [e["id"] for e in every[1:]]


class Tail:
    def __init__(self, args: list[str]):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.subprocess_settings",
            "AIRLOCK_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "audit_export", "--follow", "--interval", "0.1", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line)

    def take(self, count: int, timeout: float = 30) -> list[dict]:
        return [json.loads(self.lines.get(timeout=timeout)) for _ in range(count)]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(15)


@pytest.mark.django_db(transaction=True)
def test_follow_streams_events_as_they_happen_and_resumes(procurement):
    procurement.decide(ALLOW)
    already = AuditEvent.objects.count()
    tail = Tail([])
    try:
        seen = tail.take(already)  # what was there before, oldest first
        assert [e["kind"] for e in seen] == list(AuditEvent.objects.order_by("id").values_list("kind", flat=True))
        procurement.decide(ALLOW)
        procurement.decide({**ALLOW, "params": {"amount": 20000}})  # escalate: two events
        new = tail.take(3)
        assert [e["kind"] for e in new] == ["decision.allow", "decision.escalate", "escalation.opened"]
        assert [e["id"] for e in new] == sorted(e["id"] for e in new) and new[0]["id"] > seen[-1]["id"]
        assert all(len(e["hash"]) == 64 and "payload" in e for e in new)
    finally:
        code = tail.stop()
    assert code == 0, tail.process.stderr.read()
    assert tail.lines.empty()

    # A shipper that kept the last id resumes exactly after it: nothing lost, nothing twice.
    procurement.decide(ALLOW)
    resumed = Tail(["--after-id", str(new[-1]["id"])])
    try:
        (line,) = resumed.take(1)
        assert line["kind"] == "decision.allow" and line["id"] > new[-1]["id"]
        with pytest.raises(queue.Empty):
            resumed.lines.get(timeout=0.5)
    finally:
        assert resumed.stop() == 0


def test_follow_refuses_a_bad_interval():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run([sys.executable, "manage.py", "audit_export", "--follow", "--interval", "0"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "--interval" in result.stderr
