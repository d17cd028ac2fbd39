"""Who may answer an escalation: the one check every interface and channel uses.

Eligible: active people in one of the escalation's approver groups (from the envelope or the
matching capability), plus the groups of every tier whose time has come (`tiers: [{after,
approvers}]`: counted from the request, whether or not the tier's notice went out yet).
Staff and superusers are eligible for every escalation: they run the deployment and can change
any envelope anyway, so excluding them would only be theatre. A delegate (`approver_delegate`,
"away until" on the web) is eligible wherever the person they stand in for is, until the
delegation ends; their vote counts as that person's. Agents (AgentPrincipal, or anything that
is not a Django user) are never eligible.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from approvals.models import Delegation, Escalation, EscalationStep, Vote


def is_person(user) -> bool:
    """A real, active, logged-in Django user (never an agent principal)."""
    return (
        isinstance(user, get_user_model())
        and isinstance(user, AbstractBaseUser)
        and user.is_authenticated
        and user.is_active
    )


def groups_at(escalation: Escalation, now: datetime | None = None) -> list[str]:
    """The approver groups of this escalation at `now`: its own, then each opened tier's."""
    now = now or timezone.now()
    opened = (
        EscalationStep.objects.filter(escalation=escalation, kind=EscalationStep.Kind.TIER, due_at__lte=now)
        .order_by("position", "id")
        .values_list("group", flat=True)
    )
    return list(dict.fromkeys([*escalation.approver_groups, *opened]))


def _eligible_in_own_right(user, groups: list[str]) -> bool:
    if user.is_staff or user.is_superuser:
        return True
    return user.groups.filter(name__in=groups).exists()


@dataclass(frozen=True)
class Eligibility:
    """Whether a person may vote, and for whom: `on_behalf_of` is the absent person whose
    delegate they are (None when they vote in their own right)."""

    allowed: bool
    on_behalf_of: object = None

    def __bool__(self) -> bool:
        return self.allowed


def delegators_of(user, now: datetime | None = None) -> QuerySet:
    """The active people who delegated their approvals to `user`, as of `now`."""
    now = now or timezone.now()
    return get_user_model().objects.filter(
        is_active=True,
        delegations__delegate=user, delegations__until__gt=now, delegations__cleared_at__isnull=True,
    ).distinct().order_by("username")


def eligibility(user, escalation: Escalation, now: datetime | None = None) -> Eligibility:
    """May this user vote on this escalation at `now`, and as whom?"""
    if not is_person(user):
        return Eligibility(False)
    now = now or timezone.now()
    groups = groups_at(escalation, now)
    if _eligible_in_own_right(user, groups):
        return Eligibility(True)
    for absent in delegators_of(user, now):
        if _eligible_in_own_right(absent, groups):
            return Eligibility(True, absent)
    return Eligibility(False)


def is_eligible(user, escalation: Escalation, now: datetime | None = None) -> bool:
    """May this user vote on this escalation?"""
    return eligibility(user, escalation, now).allowed


def eligible_approvers(escalation: Escalation, now: datetime | None = None, *, groups: list[str] | None = None) -> QuerySet:
    """Every person who may vote on this escalation at `now` (or, with `groups`, every person
    those groups make eligible: a tier's newcomers), delegates included."""
    User = get_user_model()
    now = now or timezone.now()
    if groups is None:
        own = Q(is_staff=True) | Q(is_superuser=True) | Q(groups__name__in=groups_at(escalation, now))
    else:
        own = Q(groups__name__in=groups)
    principals = User.objects.filter(is_active=True).filter(own)
    delegates = Delegation.objects.filter(
        user__in=principals, until__gt=now, cleared_at__isnull=True, user__is_active=True
    ).values("delegate")
    return (
        User.objects.filter(is_active=True)
        .filter(Q(pk__in=principals.values("pk")) | Q(pk__in=delegates))
        .distinct()
        .order_by("username")
    )


def vote_label(vote: Vote) -> str:
    """How a vote is named in outcomes and audit: "bob", or "bob for alice" for a delegate."""
    if vote.on_behalf_of_id is None:
        return vote.user.get_username()
    return f"{vote.user.get_username()} for {vote.on_behalf_of.get_username()}"


def votes_by(escalation: Escalation, people: list) -> QuerySet:
    """Votes already cast by, or on behalf of, any of these people (one person counts once)."""
    ids = [p.pk for p in people if p is not None]
    return Vote.objects.filter(escalation=escalation).filter(Q(user_id__in=ids) | Q(on_behalf_of_id__in=ids))


def tier_newcomer(user, request_id, groups: list[str]) -> bool:
    """Did this tier (its `groups`) make this person eligible, who was not before?"""
    escalation = Escalation.objects.select_related("request").filter(pk=request_id).first()
    if escalation is None or not is_person(user):
        return False
    before = eligible_approvers(escalation, escalation.request.created_at).filter(pk=user.pk).exists()
    return not before and eligible_approvers(escalation, groups=groups).filter(pk=user.pk).exists()


def not_eligible_message(user, escalation: Escalation, now: datetime | None = None) -> str:
    """Why this person may not vote (yet): their tier's opening time when they have one."""
    groups = ", ".join(groups_at(escalation, now)) or "none"
    message = f"you are not an approver for this escalation (groups: {groups})"
    if not is_person(user):
        return message
    mine = set(user.groups.values_list("name", flat=True))
    later = (
        EscalationStep.objects.filter(escalation=escalation, kind=EscalationStep.Kind.TIER, group__in=mine)
        .filter(due_at__gt=now or timezone.now())
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )
    if later is not None:
        message += f"; your tier opens at {later:%Y-%m-%d %H:%M:%S} UTC if it is still pending"
    return message
