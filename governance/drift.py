"""Drift between model versions (issue 15, envelope key `drift`).

Every decide of an agent whose active envelope has `drift:` and whose request carries a
`context.model_version` adds the request to that version's running counts (outcome:
allow/deny/escalate; action mix), in the decide transaction under the agent's row lock.

Baseline rule (docs/reliability.md):
- the first model_version an agent reports while its envelope has `drift:` is its baseline;
- any other version is `pending` until it has `min_requests` requests; then its outcome
  table and its action-mix table (2 × k contingency tables: baseline vs candidate) are
  tested once each (chi-square test of independence; Fisher's exact test for a 2 × 2 table
  with an expected count under 5; categories with fewer than 5 requests in both versions
  together are pooled into "(other)"). The version is `shifted` when either p-value is
  below `p_value / 2` (Bonferroni over the two tables);
- `shifted`: an anomaly tagged `reliability`, code `distribution_shift`, with both
  distributions and the tests' statistics; with `on_shift: supervise` the breaker puts
  the agent in supervised mode until an admin resets it. The baseline does not move;
- `consistent`: the version becomes the baseline (the agent moved on to a model that
  behaves like the old one); the old baseline is `retired`;
- an admin can accept a shifted version as the new baseline (drift_baseline_accept).
"""

import logging
import math

from django.db import transaction
from scipy import stats

from governance.actors import admin_actor
from governance.audit import audit_record
from governance.breaker import breaker_trip
from governance.errors import Conflict
from governance.locks import lock_agent
from governance.models import Agent, Anomaly, DecisionRequest
from governance.policy import CompiledEnvelope
from governance.reliability_models import ModelVersionStats
from governance.violations import violation_details

logger = logging.getLogger("airlock.drift")

OUTCOMES = ("allow", "escalate", "deny")
POOL_BELOW = 5  # a category with fewer requests (both versions together) is pooled
OTHER = "(other)"
MAX_ACTIONS = 200  # distinct action names counted per version; the rest are "(other)"
V = ModelVersionStats.Verdict


def _table(baseline: dict, candidate: dict) -> tuple[list[str], list[list[int]]]:
    """Columns and the 2 × k table, rare categories pooled, empty ones dropped."""
    names = sorted(set(baseline) | set(candidate))
    columns: list[str] = []
    rows: list[list[int]] = [[], []]
    pooled = [0, 0]
    for name in names:
        a, b = int(baseline.get(name, 0)), int(candidate.get(name, 0))
        if a + b == 0:
            continue
        if a + b < POOL_BELOW:
            pooled[0] += a
            pooled[1] += b
            continue
        columns.append(name)
        rows[0].append(a)
        rows[1].append(b)
    if sum(pooled):
        columns.append(OTHER)
        rows[0].append(pooled[0])
        rows[1].append(pooled[1])
    return columns, rows


def contingency_test(baseline: dict, candidate: dict) -> dict:
    """Is the candidate's distribution over the categories the baseline's? A dict with the
    test used, its statistic and p-value, and the table it ran on."""
    columns, rows = _table(baseline, candidate)
    result = {"columns": columns, "table": rows}
    if len(columns) < 2 or not sum(rows[0]) or not sum(rows[1]):
        return {**result, "test": "none", "statistic": None, "p_value": 1.0, "dof": 0}
    chi2 = stats.chi2_contingency(rows)
    if len(columns) == 2 and float(chi2.expected_freq.min()) < 5:
        fisher = stats.fisher_exact(rows)
        return {**result, "test": "fisher_exact", "statistic": _finite(fisher.statistic),
                "p_value": _p(fisher.pvalue), "dof": 1}
    return {**result, "test": "chi2", "statistic": _finite(chi2.statistic), "p_value": _p(chi2.pvalue),
            "dof": int(chi2.dof)}


def _finite(value) -> float | None:
    """JSON (and PostgreSQL's jsonb) has no Infinity or NaN: Fisher's odds ratio is infinite
    when a cell is 0. Stored as null; the p-value is what decides."""
    value = float(value)
    return value if math.isfinite(value) else None


def _p(value) -> float:
    value = float(value)
    return value if math.isfinite(value) else 1.0  # no evidence of a shift


def drift_compare(baseline: ModelVersionStats, candidate: ModelVersionStats, p_value: float) -> dict:
    """Both tests, and whether the candidate shifted (either p below p_value / 2)."""
    outcome = contingency_test(baseline.outcomes, candidate.outcomes)
    actions = contingency_test(baseline.actions, candidate.actions)
    alpha = p_value / 2
    return {
        "shifted": outcome["p_value"] < alpha or actions["p_value"] < alpha,
        "p_value": p_value,
        "alpha_per_test": alpha,
        "outcome": outcome,
        "actions": actions,
        "baseline": _distribution(baseline),
        "candidate": _distribution(candidate),
    }


def _distribution(row: ModelVersionStats) -> dict:
    return {"model_version": row.model_version, "requests": row.requests,
            "outcomes": dict(row.outcomes), "actions": dict(row.actions)}


def drift_observe(*, agent: Agent, row: DecisionRequest, compiled: CompiledEnvelope | None) -> None:
    """Count the request for its model_version and test the version once it has enough.
    Inside decide's transaction, under the agent's lock (require_agent holds)."""
    if compiled is None or compiled.drift is None:
        return
    version = (row.context or {}).get("model_version")
    if not isinstance(version, str) or not version:
        return
    version = version[:200]
    counts = ModelVersionStats.objects.filter(agent=agent, model_version=version).first()
    if counts is None:
        has_baseline = ModelVersionStats.objects.filter(agent=agent, verdict=V.BASELINE).exists()
        counts = ModelVersionStats(
            agent=agent, model_version=version, verdict=V.PENDING if has_baseline else V.BASELINE,
            first_seen_at=row.created_at, last_seen_at=row.created_at,
        )
    counts.requests += 1
    counts.outcomes[row.decision] = counts.outcomes.get(row.decision, 0) + 1
    # Bounded: an agent sending ever new action names must not grow the row without end.
    action = row.action if row.action in counts.actions or len(counts.actions) < MAX_ACTIONS else OTHER
    counts.actions[action] = counts.actions.get(action, 0) + 1
    counts.last_seen_at = max(counts.last_seen_at, row.created_at)
    counts.save()
    if counts.verdict == V.PENDING and counts.requests >= compiled.drift["min_requests"]:
        _test(agent, row, counts, compiled.drift)


def _test(agent: Agent, row: DecisionRequest, candidate: ModelVersionStats, drift: dict) -> None:
    baseline = ModelVersionStats.objects.filter(agent=agent, verdict=V.BASELINE).first()
    if baseline is None:  # an admin's baseline was deleted: this version becomes it
        candidate.verdict = V.BASELINE
        candidate.save(update_fields=["verdict"])
        return
    try:
        result = drift_compare(baseline, candidate, drift["p_value"])
    except Exception:
        # The decision is already recorded; a failed test must not undo it. The version
        # stays pending and is tested again at its next request.
        logger.exception("drift test failed; will retry", extra={"agent": agent.name, "model_version": candidate.model_version})
        return
    candidate.test, candidate.tested_at = result, row.created_at
    if result["shifted"]:
        candidate.verdict = V.SHIFTED
        candidate.save(update_fields=["verdict", "test", "tested_at"])
    else:
        candidate.verdict = V.BASELINE
        candidate.save(update_fields=["verdict", "test", "tested_at"])
        ModelVersionStats.objects.filter(pk=baseline.pk).update(verdict=V.RETIRED)
    audit_record(
        kind="drift.tested", actor="system:drift", agent=agent, request_id=row.id, at=row.created_at,
        payload={"model_version": candidate.model_version, "baseline": baseline.model_version,
                 "verdict": candidate.verdict, "outcome_p": result["outcome"]["p_value"],
                 "actions_p": result["actions"]["p_value"]},
    )
    if result["shifted"]:
        _shift_record(agent, row, candidate, baseline, result, drift)


def _shift_record(agent: Agent, row: DecisionRequest, candidate, baseline, result: dict, drift: dict) -> None:
    reason = (
        f"model_version {candidate.model_version!r} answers differently from baseline {baseline.model_version!r}: "
        f"outcome p={result['outcome']['p_value']:.3g}, actions p={result['actions']['p_value']:.3g} "
        f"(< {result['alpha_per_test']:g})"
    )
    # An anomaly belongs to one request: this one, unless its own violation already has one.
    anchor = row if not row.violation else (
        DecisionRequest.objects.filter(agent=agent, violation=False, anomaly__isnull=True,
                                       created_at__lte=row.created_at).order_by("-created_at").first()
    )
    if anchor is not None:
        anomaly = Anomaly.objects.create(
            request=anchor, agent=agent, code="distribution_shift", tag=Anomaly.Tag.RELIABILITY,
            tag_reason=reason, details={**violation_details(anchor), "drift": result},
            created_at=row.created_at,
        )
        audit_record(
            kind="anomaly.recorded", actor="system:drift", agent=agent, request_id=anchor.id, at=row.created_at,
            payload={"anomaly": anomaly.pk, "code": "distribution_shift", "tag": Anomaly.Tag.RELIABILITY,
                     "tag_reason": reason},
        )
    else:
        logger.warning("distribution shift with no request to attach the anomaly to", extra={"agent": agent.name})
    if drift["on_shift"] == "supervise":
        breaker_trip(agent=agent, reason=f"distribution_shift: {reason}", at=row.created_at,
                     details={"model_version": candidate.model_version, "baseline": baseline.model_version})


@transaction.atomic
def drift_baseline_accept(*, agent: Agent, model_version: str, by=None) -> ModelVersionStats:
    """An admin makes a version (typically a shifted one, after review) the baseline."""
    actor = admin_actor(by)
    lock_agent(agent.pk)
    target = ModelVersionStats.objects.filter(agent=agent, model_version=model_version).first()
    if target is None:
        raise Conflict(f"{agent.name} has no requests with model_version {model_version!r}", code="unknown_version")
    previous = list(ModelVersionStats.objects.filter(agent=agent, verdict=V.BASELINE).values_list("model_version", flat=True))
    ModelVersionStats.objects.filter(agent=agent, verdict=V.BASELINE).exclude(pk=target.pk).update(verdict=V.RETIRED)
    ModelVersionStats.objects.filter(pk=target.pk).update(verdict=V.BASELINE)
    audit_record(kind="drift.baseline_accepted", actor=actor, agent=agent,
                 payload={"model_version": model_version, "previous": previous})
    target.refresh_from_db()
    return target


def drift_versions(agent: Agent) -> list[ModelVersionStats]:
    """The agent's model versions, oldest first (for the dashboard)."""
    return list(ModelVersionStats.objects.filter(agent=agent).order_by("first_seen_at", "id"))
