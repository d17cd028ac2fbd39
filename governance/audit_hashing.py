"""The audit chain's primitives: the genesis hash, the keyed hash (HMAC-SHA256 under
AUDIT_KEY) and what a break looks like. Shared by the chain (audit.py) and the checkpoints
outside the database (audit_checkpoints.py), which audit.py reads: so neither imports the other
for them."""

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

GENESIS = "0" * 64


def audit_key() -> bytes:
    return settings.AUDIT_KEY.encode()


@lru_cache(maxsize=4)
def _keyed(key: bytes) -> "hmac.HMAC":
    return hmac.new(key, digestmod=hashlib.sha256)


def keyed_hash(text: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 of `text` under AUDIT_KEY (or `key`), hex."""
    mac = _keyed(key if key is not None else audit_key()).copy()
    mac.update(text.encode())
    return mac.hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    chain: str
    event_id: int | None
    seq: int
    problem: str
    where: str = ""  # overrides the location, e.g. a checkpoint file's line

    def __str__(self) -> str:
        where = self.where or (f"event {self.event_id}" if self.event_id else "chain head")
        return f"{where} (chain {self.chain}, seq {self.seq}): {self.problem}"
