"""The approver's inbox (issue 12): pending escalations with filters, search, the true
total and paging. Reads only; built on the queue's selectors (same visibility rule)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from approvals.eligibility import is_person
from approvals.models import Escalation, EscalationGroup, Vote
from approvals.selectors import _with_progress
from governance.models import DecisionRequest

RISK_BANDS = {"high": (0.7, None), "medium": (0.4, 0.7), "low": (None, 0.4)}
MAX_QUERY = 200


@dataclass(frozen=True)
class InboxFilter:
    """What the person asked to see. Empty strings mean "any"."""

    agent: str = ""
    action: str = ""
    risk: str = ""  # high | medium | low
    group: str = ""
    mine: bool = False  # in one of my own approver groups, and I have not voted yet
    q: str = ""  # search: agent, action, resource, reasoning

    @property
    def active(self) -> bool:
        return bool(self.agent or self.action or self.risk or self.group or self.mine or self.q)

    @classmethod
    def from_query(cls, data) -> "InboxFilter":
        def text(name: str) -> str:
            return str(data.get(name, "")).strip()[:MAX_QUERY]

        risk = text("risk")
        return cls(
            agent=text("agent"), action=text("action"), risk=risk if risk in RISK_BANDS else "",
            group=text("group"), mine=text("mine") in ("1", "on", "true"), q=text("q"),
        )


def inbox_pending(user, f: InboxFilter, *, now: datetime | None = None) -> QuerySet:
    """Pending escalations this person may answer that match `f` (unordered, unannotated: the
    caller counts it for the true total, then pages through inbox_with_progress())."""
    now = now or timezone.now()
    queryset = Escalation.objects.filter(
        request__status=DecisionRequest.Status.PENDING, request__expires_at__gt=now, deadline__gt=now
    )
    if not is_person(user):
        return queryset.none()
    # The person's groups as a list: one small query, and a plan the database can estimate
    # (a nested subquery per row cost ~4x on 10,000 pending).
    own = list(user.groups.values_list("name", flat=True))
    staff = user.is_staff or user.is_superuser
    if not staff:
        queryset = queryset.filter(Exists(EscalationGroup.objects.filter(escalation=OuterRef("pk"), name__in=own)))
    if f.agent:
        queryset = queryset.filter(request__agent__name=f.agent)
    if f.action:
        # "crm." or "crm.*": a prefix; otherwise the exact action.
        prefix = f.action.removesuffix("*")
        queryset = queryset.filter(request__action__startswith=prefix) if f.action.endswith(("*", ".")) \
            else queryset.filter(request__action=f.action)
    if f.risk:
        low, high = RISK_BANDS[f.risk]
        if low is not None:
            queryset = queryset.filter(request__risk_score__gte=low)
        if high is not None:
            queryset = queryset.filter(request__risk_score__lt=high)
    if f.group:
        queryset = queryset.filter(Exists(EscalationGroup.objects.filter(escalation=OuterRef("pk"), name=f.group)))
    if f.mine:
        if staff:  # everyone else sees only their own groups' escalations already
            queryset = queryset.filter(Exists(EscalationGroup.objects.filter(escalation=OuterRef("pk"), name__in=own)))
        queryset = queryset.exclude(Exists(Vote.objects.filter(escalation=OuterRef("pk"), user_id=user.pk)))
    if f.q:
        queryset = queryset.filter(
            Q(request__action__icontains=f.q) | Q(request__resource__icontains=f.q)
            | Q(request__agent__name__icontains=f.q) | Q(request__context__reasoning__icontains=f.q)
        )
    return queryset


def inbox_with_progress(queryset: QuerySet, user) -> QuerySet:
    """The page's rows, most urgent first, with approvals and this person's vote. Count the
    plain inbox_pending() queryset instead: these annotations are correlated subqueries that
    a COUNT over them would compute for every matching row."""
    return _with_progress(queryset, user).order_by("request__expires_at", "pk")


def inbox_choices(user) -> dict:
    """Values for the filter menus: agents, and the approver groups this person can filter by
    (their own; staff: every group). Cheap on purpose: no scan of the pending escalations."""
    from django.contrib.auth.models import Group

    from governance.models import Agent

    agents = list(Agent.objects.order_by("name").values_list("name", flat=True)[:200])
    groups = Group.objects.all() if (user.is_staff or user.is_superuser) else user.groups.all()
    return {"agents": agents, "groups": list(groups.order_by("name").values_list("name", flat=True)[:200])}
