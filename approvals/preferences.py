"""Per-person notification preferences: which channels may notify this person.

Stored as the channel names a person muted (ApproverProfile.muted_channels), so a channel added
later is on by default. The domain keeps only names: every channel asks `notifies(user, its
own name)` before it sends a person anything. The web queue is not a notification channel: an
escalation a person may answer is always on their queue.
"""

import re

from django.db import transaction

from approvals.models import ApproverProfile
from governance.audit import audit_record
from governance.errors import InvalidInput

NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")

# name -> label of every notification channel that is switched on; each channel registers
# itself in its AppConfig.ready() (the domain never names one).
_CHANNELS: dict[str, str] = {}


def channel_register(name: str, label: str) -> None:
    """Called by a channel's AppConfig when it is enabled: people can then choose it."""
    if not NAME.fullmatch(name):
        raise ValueError(f"bad channel name {name!r}")
    _CHANNELS[name] = label


def channel_unregister(name: str) -> None:
    _CHANNELS.pop(name, None)


def channels() -> dict[str, str]:
    """The notification channels people can turn on and off, by name."""
    return dict(_CHANNELS)


def muted_channels(user) -> list[str]:
    """The channels this person turned off."""
    profile = ApproverProfile.objects.filter(user=user).values_list("muted_channels", flat=True).first()
    return list(profile or [])


def notifies(user, channel: str) -> bool:
    """May `channel` send this person notifications? (Fails closed to "yes": a reminder too
    many is better than an approver never told; but an unreadable row is logged by the ORM.)"""
    return channel not in muted_channels(user)


@transaction.atomic
def preferences_set(*, user, muted: list[str], by: str, known: list[str] | None = None) -> list[str]:
    """Mute exactly these channels (names from the channel registry) for this person; audited."""
    known = list(channels()) if known is None else known
    muted = sorted(dict.fromkeys(muted))
    unknown = [name for name in muted if not NAME.fullmatch(name) or name not in known]
    if unknown:
        raise InvalidInput(f"unknown channel(s): {', '.join(unknown)}")
    profile, _ = ApproverProfile.objects.get_or_create(user=user)
    before = list(profile.muted_channels or [])
    ApproverProfile.objects.filter(pk=profile.pk).update(muted_channels=muted)
    audit_record(kind="approver.preferences", actor=by, payload={
        "username": user.get_username(), "muted_channels": muted, "before": before,
    })
    return muted
