"""Audit checkpoints outside the database: format, append-only chaining, tampering with the
files themselves, day files, the key, settings and the beat schedule."""

import hashlib
import hmac
import io
import json
import os
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import transaction

from governance.audit import audit_record, audit_verify
from governance.audit_checkpoints import CheckpointError, audit_checkpoint, checkpoint_files
from governance.canonical import canonical_json
from governance.models import AuditChainHead, AuditEvent
from tests.worker import celery_worker  # noqa: F401

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
DAY = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def chains(make_agent):
    alpha, beta = make_agent("alpha-bot"), make_agent("beta-bot")
    return alpha, beta


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def mac(record: dict, key: str) -> str:
    """The documented line MAC, computed independently of the code under test."""
    text = "airlock-audit-checkpoint\n" + canonical_json({k: v for k, v in record.items() if k != "mac"})
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def note(agent, n=0):
    with transaction.atomic():
        audit_record(kind="note.added", actor="system:test", agent=agent, payload={"n": n})


def test_a_checkpoint_writes_every_head_as_macd_chained_json_lines(chains, settings):
    alpha, _ = chains
    result = audit_checkpoint(now=DAY)
    assert result.path == Path(settings.AUDIT_CHECKPOINT_DIR) / "checkpoints-2026-11-28.jsonl"
    written = lines(result.path)
    heads = {h.chain: (h.seq, h.hash) for h in AuditChainHead.objects.filter(seq__gt=0)}
    assert {r["chain"]: (r["seq"], r["hash"]) for r in written} == heads and result.written == len(heads) >= 2
    prev = "0" * 64
    for record in written:
        assert set(record) == {"v", "at", "chain", "seq", "hash", "prev", "mac"} and record["v"] == 1
        assert record["at"] == DAY.isoformat() and record["prev"] == prev
        assert record["mac"] == mac(record, settings.AUDIT_KEY)
        prev = record["mac"]
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(result.path.parent.stat().st_mode) == 0o700


def test_only_moved_heads_are_appended_later_the_same_day(chains):
    alpha, _ = chains
    first = audit_checkpoint(now=DAY)
    assert audit_checkpoint(now=DAY + timedelta(minutes=5)).written == 0
    note(alpha.agent)
    again = audit_checkpoint(now=DAY + timedelta(minutes=10))
    assert again.written == 1 and again.path == first.path
    last = lines(first.path)[-1]
    assert last["chain"] == f"agent:{alpha.agent.pk}" and last["seq"] == AuditChainHead.objects.get(chain=last["chain"]).seq
    assert audit_verify() is None


def test_a_new_day_starts_a_full_snapshot_chained_to_the_day_before(chains):
    yesterday = audit_checkpoint(now=DAY)
    today = audit_checkpoint(now=DAY + timedelta(days=1))
    assert today.path != yesterday.path and today.written == yesterday.written
    assert lines(today.path)[0]["prev"] == lines(yesterday.path)[-1]["mac"]
    assert audit_verify() is None


def test_an_edited_checkpoint_line_is_detected_and_blocks_further_checkpoints(chains):
    path = audit_checkpoint(now=DAY).path
    records = lines(path)
    records[1]["seq"] -= 1  # "the chain was shorter": would hide a truncation
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    broken = audit_verify()
    assert broken is not None and f"checkpoint file {path} line 2" in str(broken) and "HMAC" in broken.problem
    with pytest.raises(CommandError):
        call_command("audit_checkpoint", stdout=io.StringIO())
    assert len(lines(path)) == len(records)  # nothing appended to a file that does not verify


def test_a_line_forged_with_another_key_is_detected(chains, settings):
    path = audit_checkpoint(now=DAY).path
    last = lines(path)[-1]
    forged = {**last, "seq": last["seq"] + 5, "prev": last["mac"], "at": (DAY + timedelta(hours=1)).isoformat()}
    forged["mac"] = mac(forged, "not-the-audit-key-" * 3)
    with path.open("a") as handle:
        handle.write(json.dumps(forged) + "\n")
    broken = audit_verify()
    assert broken is not None and "HMAC" in broken.problem


def test_a_removed_line_or_day_file_is_detected(chains, make_agent):
    alpha, _ = chains
    make_agent("gamma-bot")  # three lines in the first file: remove the middle one
    first = audit_checkpoint(now=DAY).path
    note(alpha.agent)
    audit_checkpoint(now=DAY + timedelta(days=1))
    note(alpha.agent, 1)
    audit_checkpoint(now=DAY + timedelta(days=2))
    assert audit_verify() is None
    kept = first.read_text().splitlines(keepends=True)
    first.write_text("".join(kept[:1] + kept[2:]))
    broken = audit_verify()
    assert broken is not None and f"{first} line 2 " in str(broken) and "does not follow" in broken.problem
    first.write_text("".join(kept))
    assert audit_verify() is None
    checkpoint_files()[1].unlink()  # a whole day, from the middle
    broken = audit_verify()
    assert broken is not None and "does not follow" in broken.problem


def test_a_clock_behind_the_newest_file_writes_nothing(chains):
    audit_checkpoint(now=DAY)
    with pytest.raises(CheckpointError):
        audit_checkpoint(now=DAY - timedelta(days=1))
    assert len(checkpoint_files()) == 1


def test_verifying_with_another_key_fails_closed(chains, settings):
    settings.AUDIT_KEY = "a-different-installation-key-" * 2
    broken = audit_verify()
    assert broken is not None and broken.event_id == AuditEvent.objects.order_by("id").first().id


def test_the_command_reports_and_verify_counts_checkpoint_files(chains):
    out = io.StringIO()
    call_command("audit_checkpoint", stdout=out)
    assert out.getvalue().startswith("checkpointed ") and "chain heads to" in out.getvalue()
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert "intact" in out.getvalue() and "1 checkpoint file" in out.getvalue()


def test_beat_runs_the_checkpoint_on_its_interval():
    schedule = django_settings.CELERY_BEAT_SCHEDULE["governance-audit-checkpoint"]
    assert schedule["task"] == "governance.audit_checkpoint"
    assert schedule["schedule"] == django_settings.AUDIT_CHECKPOINT_INTERVAL


# --- settings: the key is never in the database --------------------------------------

SHOW = (
    "from django.conf import settings; import django; django.setup(); "
    "print(settings.AUDIT_KEY); print(settings.AUDIT_CHECKPOINT_DIR); "
    "print(settings.CELERY_BEAT_SCHEDULE['governance-audit-checkpoint']['schedule'])"
)


def settings_in(tmp_path: Path, **env) -> subprocess.CompletedProcess:
    child = {k: v for k, v in os.environ.items() if k not in ("AUDIT_KEY", "AUDIT_CHECKPOINT_DIR", "DATABASE_URL")}
    child.update(AIRLOCK_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="airlock.settings", **env)
    return subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=child, capture_output=True, text=True, timeout=60)


def test_without_audit_key_one_is_generated_into_var_once(tmp_path):
    first, second = settings_in(tmp_path), settings_in(tmp_path)
    assert first.returncode == 0, first.stderr
    key = (tmp_path / "audit_key").read_text().strip()
    assert len(key) == 64 and first.stdout.split()[0] == key == second.stdout.split()[0]
    assert stat.S_IMODE((tmp_path / "audit_key").stat().st_mode) == 0o600
    assert first.stdout.split()[1] == str(tmp_path / "audit-checkpoints")
    assert first.stdout.split()[2] == "300.0"


def test_audit_key_and_checkpoint_settings_from_the_environment(tmp_path):
    shown = settings_in(tmp_path, AUDIT_KEY="k" * 40, AUDIT_CHECKPOINT_DIR="/srv/ckpt", AUDIT_CHECKPOINT_INTERVAL="1m")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["k" * 40, "/srv/ckpt", "60.0"]
    assert not (tmp_path / "audit_key").exists()


def test_a_short_audit_key_fails_at_start_up(tmp_path):
    shown = settings_in(tmp_path, AUDIT_KEY="short")
    assert shown.returncode != 0 and "AUDIT_KEY must be at least 32 characters" in shown.stderr


# --- beat, for real --------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_beat_writes_checkpoints_that_verify(celery_worker, make_agent, tmp_path):  # noqa: F811
    alpha = make_agent("alpha-bot")
    folder = tmp_path / "beat-checkpoints"
    celery_worker(beat=True, env={"AUDIT_CHECKPOINT_INTERVAL": "1s", "AUDIT_CHECKPOINT_DIR": str(folder)})
    chain = f"agent:{alpha.agent.pk}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [r for f in checkpoint_files(folder) for r in lines(f)]
        if any(r["chain"] == chain for r in found):
            break
        time.sleep(0.2)
    assert any(r["chain"] == chain for r in found), "beat wrote no checkpoint within 60 s"
    assert audit_verify(checkpoint_dir=str(folder)) is None
