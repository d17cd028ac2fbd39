"""Reads behind the dashboard's reliability section and the agent page's shadow card:
each agent's outcome distribution per day and per model version, the drift verdicts, and
the shadow's transition matrix. Grouped queries over an indexed time window."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Max, Min
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncDate

from governance.models import Agent, DecisionRequest, ModelVersionStats
from governance.shadow import shadow_matrix

ANSWERS = ("allow", "escalate", "deny")
MAX_AGENTS = 12


@dataclass
class Distribution:
    """Counts per answer, with percentages for a stacked bar."""

    label: str
    counts: dict = field(default_factory=lambda: dict.fromkeys(ANSWERS, 0))
    verdict: str = ""  # drift: baseline / pending / consistent / shifted / retired
    test: dict = field(default_factory=dict)
    first: datetime | None = None  # first and last request in the window
    last: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def shares(self) -> list[tuple[str, int, float]]:
        total = self.total or 1
        return [(a, self.counts[a], round(100 * self.counts[a] / total, 1)) for a in ANSWERS]

    @property
    def p_values(self) -> str:
        if not self.test:
            return ""
        return f"outcome p={self.test['outcome']['p_value']:.2g}, actions p={self.test['actions']['p_value']:.2g}"


@dataclass
class AgentReliability:
    name: str
    days: list[Distribution]
    versions: list[Distribution]

    @property
    def shifted(self) -> int:
        return sum(1 for v in self.versions if v.verdict == "shifted")


def reliability_overview(*, now: datetime, days: int = 14) -> list[AgentReliability]:
    """The busiest agents of the window: outcomes per day and per context.model_version."""
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    window = DecisionRequest.objects.filter(created_at__gte=start)
    busiest = list(
        window.values_list("agent_id").annotate(n=Count("id")).order_by("-n", "agent_id").values_list("agent_id", flat=True)[:MAX_AGENTS]
    )
    if not busiest:
        return []
    rows = window.filter(agent_id__in=busiest)
    day_list = [(start + timedelta(days=i)).date() for i in range(days)]
    per_day: dict[int, dict] = defaultdict(lambda: {d: Distribution(d.strftime("%b %d")) for d in day_list})
    for agent_id, day, decision, n in (
        rows.annotate(day=TruncDate("created_at", tzinfo=UTC)).values_list("agent_id", "day", "decision").annotate(n=Count("id"))
    ):
        if day in per_day[agent_id] and decision in ANSWERS:
            per_day[agent_id][day].counts[decision] += n
    per_version: dict[int, dict[str, Distribution]] = defaultdict(dict)
    for agent_id, version, decision, n, first, last in (
        rows.annotate(mv=KeyTextTransform("model_version", "context")).values_list("agent_id", "mv", "decision")
        .annotate(n=Count("id"), first=Min("created_at"), last=Max("created_at"))
    ):
        label = version or "(none)"
        dist = per_version[agent_id].setdefault(label, Distribution(label))
        if decision in ANSWERS:
            dist.counts[decision] += n
        dist.first = first if dist.first is None else min(dist.first, first)
        dist.last = last if dist.last is None else max(dist.last, last)
    for stats in ModelVersionStats.objects.filter(agent_id__in=busiest):
        dist = per_version[stats.agent_id].get(stats.model_version)
        if dist is not None:
            dist.verdict, dist.test = stats.verdict, stats.test
    names = dict(Agent.objects.filter(pk__in=busiest).values_list("pk", "name"))
    return [
        AgentReliability(
            name=names[agent_id],
            days=list(per_day[agent_id].values()),
            # In the order the versions appeared: the drift story reads top to bottom.
            versions=sorted(per_version[agent_id].values(), key=lambda d: (d.first, d.label)),
        )
        for agent_id in busiest
    ]


def shadow_card(agent: Agent) -> dict | None:
    """The shadow's matrix for the agent page, None without a shadow."""
    if agent.shadow_envelope_id is None:
        return None
    report = shadow_matrix(agent=agent)
    report["since_at"] = agent.shadow_since
    report["rows"] = [(a, [(s, report["matrix"][a][s]) for s in ANSWERS]) for a in ANSWERS]
    return report
