"""Audit checkpoints: the head of every chain, written outside the database.

Inside the database, a chain cut short with its head row rolled back looks exactly like a
shorter history. `audit_checkpoint` (command, and Celery beat every AUDIT_CHECKPOINT_INTERVAL)
appends each chain head that moved since that chain's last checkpoint of the day to
AUDIT_CHECKPOINT_DIR/checkpoints-YYYY-MM-DD.jsonl (UTC day; the first run of a day writes
every chain, so each file is a full snapshot plus changes). One JSON object per line:

    {"v": 1, "at": ISO time, "chain": ..., "seq": ..., "hash": ..., "prev": ..., "mac": ...}

`mac` is HMAC-SHA256 under AUDIT_KEY over the other fields, and `prev` is the previous line's
mac (across files, in name order), so a line cannot be edited, forged, removed or reordered
without the key; only the newest lines can be cut off, which is why the files belong on a
backup that is not the database host's (docs/audit.md). `audit_verify` reads every file and
requires each checkpointed (chain, seq) to still exist with the same hash.
"""

import fcntl
import hmac
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from governance.audit_hashing import GENESIS, ChainBreak, keyed_hash
from governance.canonical import canonical_json
from governance.models import AuditChainHead

VERSION = 1
_DOMAIN = "airlock-audit-checkpoint\n"  # never the same text as an event's hash input
_FIELDS = {"v": int, "at": str, "chain": str, "seq": int, "hash": str, "prev": str, "mac": str}


class CheckpointError(Exception):
    """The checkpoint files cannot be trusted or written; nothing was appended."""


@dataclass
class Checkpoints:
    # chain -> seq -> [(hash, "checkpoint of <at> (<file>:<line>)")]
    pins: dict[str, dict[int, list[tuple[str, str]]]] = field(default_factory=dict)
    problem: ChainBreak | None = None  # the first line that does not verify
    lines: int = 0
    last_mac: str = GENESIS
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)  # newest per chain


def checkpoint_dir(directory: str | os.PathLike | None = None) -> Path:
    return Path(directory or settings.AUDIT_CHECKPOINT_DIR)


def checkpoint_files(directory: str | os.PathLike | None = None) -> list[Path]:
    return sorted(checkpoint_dir(directory).glob("checkpoints-*.jsonl"))


def line_mac(record: dict) -> str:
    return keyed_hash(_DOMAIN + canonical_json({k: v for k, v in record.items() if k != "mac"}))


def _parse(raw: bytes) -> dict:
    if not raw.endswith(b"\n"):
        raise ValueError("incomplete line (no newline)")
    record = json.loads(raw)
    if not isinstance(record, dict) or set(record) != set(_FIELDS):
        raise ValueError("not a checkpoint line")
    for name, kind in _FIELDS.items():
        if type(record[name]) is not kind:
            raise ValueError(f"{name} is not a {kind.__name__}")
    if record["v"] != VERSION:
        raise ValueError(f"unknown version {record['v']}")
    return record


def read_checkpoints(
    directory: str | os.PathLike | None = None, *, files: list[Path] | None = None, prev: str | None = GENESIS
) -> Checkpoints:
    """Every checkpoint line, each checked against AUDIT_KEY and its predecessor (the first
    against `prev`; None accepts whatever it names). Reading stops at the first line that
    does not verify (reported as `problem`); a missing directory is no checkpoints yet."""
    result = Checkpoints(last_mac=prev or GENESIS)
    for path in checkpoint_files(directory) if files is None else files:
        try:
            handle = path.open("rb")
        except OSError as exc:
            result.problem = ChainBreak("-", None, 0, f"unreadable: {exc}", where=f"checkpoint file {path}")
            return result
        with handle:
            for number, raw in enumerate(handle, 1):
                where = f"checkpoint file {path} line {number}"
                try:
                    record = _parse(raw)
                except ValueError as exc:  # JSONDecodeError included
                    result.problem = ChainBreak("-", None, 0, f"unreadable checkpoint: {exc}", where=where)
                    return result
                chain, seq = record["chain"], record["seq"]
                if not hmac.compare_digest(record["mac"], line_mac(record)):
                    problem = "checkpoint HMAC does not match (edited, or not written with this AUDIT_KEY)"
                    result.problem = ChainBreak(chain, None, seq, problem, where=where)
                    return result
                if prev is None and result.lines == 0:
                    result.last_mac = record["prev"]
                if record["prev"] != result.last_mac:
                    problem = "checkpoint does not follow the line before it (lines removed or reordered)"
                    result.problem = ChainBreak(chain, None, seq, problem, where=where)
                    return result
                label = f"checkpoint of {record['at']} ({path.name}:{number})"
                result.pins.setdefault(chain, {}).setdefault(seq, []).append((record["hash"], label))
                result.heads[chain] = (seq, record["hash"])
                result.last_mac = record["mac"]
                result.lines += 1
    return result


@dataclass(frozen=True)
class CheckpointResult:
    path: Path
    written: int  # chains whose head was appended
    chains: int  # chains with at least one event


def _open_private(path: Path, flags: int) -> int:
    return os.open(path, flags | os.O_CLOEXEC, 0o600)


def audit_checkpoint(*, now: datetime | None = None, directory: str | os.PathLike | None = None) -> CheckpointResult:
    """Append the chain heads that moved since their last checkpoint today (all of them in a
    new day's file). One writer at a time (an flock in the directory); the file it extends
    must verify first, or nothing is written (CheckpointError)."""
    now = (now or timezone.now()).astimezone(UTC)
    folder = checkpoint_dir(directory)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / f"checkpoints-{now:%Y-%m-%d}.jsonl"
    lock = _open_private(folder / ".lock", os.O_WRONLY | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        existing = checkpoint_files(folder)
        latest = existing[-1] if existing else None
        if latest is not None and latest.name > target.name:
            raise CheckpointError(f"{latest} is newer than {target.name}: is the clock right?")
        # Only the newest file is read: it holds today's heads and the last mac to chain from
        # (audit_verify checks the links between files).
        known = read_checkpoints(files=[latest] if latest else [], prev=None)
        if known.problem is not None:
            raise CheckpointError(str(known.problem))
        today = known.heads if latest == target else {}
        heads = AuditChainHead.objects.filter(seq__gt=0).order_by("chain").values_list("chain", "seq", "hash")
        prev, lines, chains = known.last_mac, [], 0
        for chain, seq, digest in heads:
            chains += 1
            if today.get(chain) == (seq, digest):
                continue
            record = {"v": VERSION, "at": now.isoformat(), "chain": chain, "seq": seq, "hash": digest, "prev": prev}
            record["mac"] = prev = line_mac(record)
            lines.append(canonical_json(record) + "\n")
        if lines:
            with os.fdopen(_open_private(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab") as handle:
                handle.write("".join(lines).encode())
                handle.flush()
                os.fsync(handle.fileno())
        return CheckpointResult(path=target, written=len(lines), chains=chains)
    finally:
        os.close(lock)  # releases the flock
