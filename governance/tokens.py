"""Bearer tokens: '<kind>_<prefix>_<secret>'. Only the prefix and a SHA-256 are stored.

The secret has 256 bits of entropy, so a fast hash is enough (no password stretching);
comparison is constant-time.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class NewToken:
    plaintext: str
    prefix: str
    digest: str


def token_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def token_generate(kind: str) -> NewToken:
    prefix = secrets.token_hex(6)
    plaintext = f"{kind}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewToken(plaintext=plaintext, prefix=prefix, digest=token_digest(plaintext))


def token_prefix(plaintext: str, kind: str) -> str | None:
    """The lookup prefix of a well-formed token of this kind, else None."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != kind or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1]


def token_matches(plaintext: str, digest: str) -> bool:
    return hmac.compare_digest(token_digest(plaintext), digest)
