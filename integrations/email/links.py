"""Approve / deny links: `<id>.<secret>` signed with Django's Signer (SECRET_KEY, its own salt).

A forged or edited token fails the signature; a token whose row is gone, used, or whose secret
does not match the stored SHA-256 is refused too. Comparison is constant-time."""

import hashlib
import hmac
import secrets

from django.core import signing

from integrations.email.models import VoteLink

SALT = "airlock.email.vote-link"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def link_create(*, escalation, user, choice: str) -> str:
    """A new link's token (the plaintext exists only in the message)."""
    secret = secrets.token_urlsafe(24)
    row = VoteLink.objects.create(escalation=escalation, user=user, choice=choice, digest=_digest(secret))
    return signing.Signer(salt=SALT).sign(f"{row.pk}.{secret}")


def link_find(token: str) -> VoteLink | None:
    """The link a token names, if the token is genuine (used or not: the caller decides)."""
    try:
        value = signing.Signer(salt=SALT).unsign(token)
    except signing.BadSignature:
        return None
    pk, _, secret = value.partition(".")
    if not pk.isdigit() or not secret:
        return None
    row = VoteLink.objects.select_related("user", "escalation__request__agent").filter(pk=int(pk)).first()
    if row is None or not hmac.compare_digest(row.digest, _digest(secret)):
        return None
    return row
