"""Who may answer an escalation.

Eligible: active people in one of the escalation's approver groups (from the envelope or the
matching capability). Staff and superusers are eligible for every escalation: they run the
deployment and can change any envelope anyway, so excluding them would only be theatre.
Agents (AgentPrincipal, or anything that is not a Django user) are never eligible.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from approvals.models import Escalation


def is_person(user) -> bool:
    """A real, active, logged-in Django user (never an agent principal)."""
    return (
        isinstance(user, get_user_model())
        and isinstance(user, AbstractBaseUser)
        and user.is_authenticated
        and user.is_active
    )


def is_eligible(user, escalation: Escalation) -> bool:
    """May this user vote on this escalation?"""
    if not is_person(user):
        return False
    if user.is_staff or user.is_superuser:
        return True
    return user.groups.filter(name__in=escalation.approver_groups).exists()


def eligible_approvers(escalation: Escalation) -> QuerySet:
    """Every person who may vote on this escalation."""
    User = get_user_model()
    return (
        User.objects.filter(is_active=True)
        .filter(Q(is_staff=True) | Q(is_superuser=True) | Q(groups__name__in=escalation.approver_groups))
        .distinct()
        .order_by("username")
    )
