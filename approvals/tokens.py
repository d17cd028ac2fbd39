"""Personal API tokens for the approver API ('alp_<prefix>_<secret>'). Never an agent's.

Stored as prefix + SHA-256 (governance.tokens); the plaintext is shown once.
"""

from django.db import transaction
from django.utils import timezone

from approvals.eligibility import is_person
from approvals.models import PersonalToken
from governance.audit import audit_record
from governance.errors import InvalidInput
from governance.tokens import token_generate, token_matches, token_prefix

PERSONAL_KIND = "alp"


@transaction.atomic
def personal_token_create(*, user, label: str = "", by: str = "system:cli") -> str:
    """Issue a new token for a person; returns the plaintext (shown once)."""
    if not is_person(user):
        raise InvalidInput("personal tokens are for active people only")
    token = token_generate(PERSONAL_KIND)
    PersonalToken.objects.create(user=user, prefix=token.prefix, digest=token.digest, label=label[:100])
    audit_record(
        kind="approver.token_created", actor=by,
        payload={"username": user.get_username(), "token_prefix": token.prefix, "label": label[:100]},
    )
    return token.plaintext


@transaction.atomic
def personal_token_revoke(*, user, by: str = "system:cli") -> int:
    """Revoke every live token of this person."""
    live = PersonalToken.objects.filter(user=user, revoked_at__isnull=True)
    prefixes = list(live.values_list("prefix", flat=True))
    live.update(revoked_at=timezone.now())
    audit_record(
        kind="approver.token_revoked", actor=by,
        payload={"username": user.get_username(), "revoked": prefixes},
    )
    return len(prefixes)


def user_for_personal_token(plaintext: str):
    """The active person owning this live token, else None."""
    prefix = token_prefix(plaintext, PERSONAL_KIND)
    if prefix is None:
        return None
    row = PersonalToken.objects.select_related("user").filter(prefix=prefix, revoked_at__isnull=True).first()
    if row is None or not token_matches(plaintext, row.digest) or not row.user.is_active:
        return None
    return row.user
