"""Intent-based chaos testing (SPEC §9): scenario files of decide requests, each with the
outcome it must (or must not) get, evaluated by the pure policy engine over an in-memory
history. Nothing is stored, nobody is notified. Plain Python, no Django: the management
command supplies envelopes from the database when asked to (--agent).

The format is documented in docs/chaos.md.
"""

import math
import random
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from governance.policy import (
    CompiledEnvelope,
    Decision,
    EnvelopeError,
    PolicyRequest,
    compile_envelope,
    evaluate,
)
from governance.policy.durations import format_duration, parse_duration
from governance.policy.facts import FactBook, FactsError, validate_facts
from governance.policy.limits import MAX_WINDOW
from governance.policy.source import SourceError, load_yaml
from governance.policy.state import MemoryState, Recorded

DECISIONS = ("allow", "deny", "escalate")
THEN = ("pending", "approved", "rejected", "expired")
_outcomes = {"oneOf": [{"enum": list(DECISIONS)}, {"type": "array", "minItems": 1, "items": {"enum": list(DECISIONS)}}]}
_offset = {"type": ["string", "integer"]}
SCENARIO_SCHEMA = {
    "type": "object",
    "required": ["steps"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "envelope": {"type": ["string", "object"]},
        "envelopes": {"type": "array", "minItems": 1, "items": {"type": ["string", "object"]}},
        "agent": {"type": "string"},
        # Resource facts (docs/facts.md): a path to a facts file, or the document inline.
        "facts": {"type": ["string", "object"]},
        "start": {},  # YAML reads an unquoted timestamp as a datetime; checked below
        # Monte Carlo (issue 15): run the scenario N times, sampling param distributions.
        "runs": {"type": "integer", "minimum": 1, "maximum": 10000},
        "seed": {"type": "integer"},
        "min_restraint": {"type": "number", "minimum": 0, "maximum": 1},
        "steps": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["action"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "agent": {"type": "string"},
                    "at": _offset,
                    "after": _offset,
                    "action": {"type": "string", "minLength": 1},
                    "resource": {"type": "string"},
                    "params": {"type": "object"},
                    "context": {"type": "object"},
                    "repeat": {"type": "integer", "minimum": 1, "maximum": 100000},
                    "every": _offset,
                    "then": {"enum": list(THEN)},
                    "must": _outcomes,
                    "must_not": _outcomes,
                    "reasons": {"type": "array", "items": {"type": "string"}},
                },
                "anyOf": [{"required": ["must"]}, {"required": ["must_not"]}],
            },
        },
    },
}
_validator = Draft202012Validator(SCENARIO_SCHEMA)


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the file and the field."""


@dataclass(frozen=True)
class Expectation:
    must: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def risky(self) -> bool:
        """A step the author says must not simply go ahead."""
        return "allow" in self.must_not or (bool(self.must) and "allow" not in self.must)

    def failure(self, decision: Decision) -> str | None:
        if self.must and decision.decision not in self.must:
            return f"must {' or '.join(self.must)}, got {decision.decision}"
        if decision.decision in self.must_not:
            return f"must not {decision.decision}"
        codes = {r.code for r in decision.reasons}
        missing = [c for c in self.reasons if c not in codes]
        if missing:
            return f"missing reason {', '.join(missing)} (got {', '.join(sorted(codes))})"
        return None

    def __str__(self) -> str:
        parts = [f"must {'|'.join(self.must)}"] if self.must else []
        parts += [f"must_not {'|'.join(self.must_not)}"] if self.must_not else []
        return " ".join(parts + [f"+{c}" for c in self.reasons])


@dataclass(frozen=True)
class Step:
    name: str
    agent: str
    action: str
    resource: str
    params: dict
    context: dict
    at: datetime
    expect: Expectation
    then: str = "pending"
    repeat: int = 1
    every: int = 1


@dataclass
class Scenario:
    name: str
    path: str
    agent: str
    envelopes: dict[str, CompiledEnvelope]
    steps: list[Step]
    # The facts the steps are decided with (the CEL variable `facts`); None: no facts.
    facts: FactBook | None = None
    runs: int = 1
    seed: int | None = None
    min_restraint: float | None = None


@dataclass
class StepResult:
    step: Step
    decisions: list[Decision] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def risky(self) -> int:
        return len(self.decisions) if self.step.expect.risky else 0

    @property
    def restrained(self) -> int:
        return sum(1 for d in self.decisions if d.decision != "allow") if self.step.expect.risky else 0


@dataclass
class ScenarioResult:
    """One run, or (Monte Carlo) every run's decisions per step together."""

    scenario: Scenario
    steps: list[StepResult]
    runs: int = 1
    seed: int | None = None

    @property
    def interval(self) -> tuple[float, float] | None:
        """The restraint rate's 95 % Wilson interval, None without risky requests."""
        restrained, risky = restraint([self])
        return wilson_interval(restrained, risky) if risky else None

    @property
    def ok(self) -> bool:
        """With min_restraint, the scenario states a rate: the interval's lower bound must
        reach it (single steps may fail in some runs). Without, every step of every run
        must get its required outcome."""
        if self.scenario.min_restraint is None:
            return all(s.ok for s in self.steps)
        interval = self.interval
        return interval is not None and interval[0] >= self.scenario.min_restraint


Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (95 % by default)."""
    if n <= 0:
        raise ValueError("no trials")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


DISTRIBUTIONS = ("uniform", "choice")


def _check_distributions(value: Any, where: str) -> bool:
    """Validate every distribution in a step's params/context; True when there is one."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in DISTRIBUTIONS:
            kind, spec = next(iter(value.items()))
            if kind == "uniform":
                ok = (isinstance(spec, list) and len(spec) == 2
                      and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in spec)
                      and spec[0] <= spec[1])
                if not ok:
                    raise ScenarioError(f"{where}: uniform: give [low, high], two numbers with low <= high")
            elif not isinstance(spec, list) or not spec:
                raise ScenarioError(f"{where}: choice: give a non-empty list of values")
            return True
        return any([_check_distributions(v, f"{where}.{k}") for k, v in value.items()])
    if isinstance(value, list):
        return any([_check_distributions(v, f"{where}[{i}]") for i, v in enumerate(value)])
    return False


def _sample(value: Any, rng: random.Random | None) -> Any:
    """Draw every distribution in a value: uniform over integers when both bounds are
    integers, over reals otherwise; choice picks one item, each equally likely."""
    if isinstance(value, dict):
        if rng is not None and len(value) == 1 and next(iter(value)) in DISTRIBUTIONS:
            kind, spec = next(iter(value.items()))
            if kind == "choice":
                return rng.choice(spec)
            low, high = spec
            return rng.randint(low, high) if isinstance(low, int) and isinstance(high, int) else rng.uniform(low, high)
        return {k: _sample(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        return [_sample(v, rng) for v in value]
    return value


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SCENARIO_MAX_BYTES = 1024 * 1024


def _seconds(value: Any, where: str, *, zero: bool = False) -> int:
    """'90s', '15m', '4h35m', 600; zero only where allowed (offsets)."""
    text = str(value).strip()
    if zero and text in ("0", "0s", "0m", "0h", "0d"):
        return 0
    if re.fullmatch(r"(\d+[smhd]){2,}", text):
        seconds = sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhd])", text))
    else:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
    if seconds > MAX_WINDOW:
        # Like an envelope's windows: past the cap, step times can leave the calendar.
        raise ScenarioError(f"{where}: {value!r} is longer than the limit of {format_duration(MAX_WINDOW)}")
    return seconds


def _start(value: Any, path: str) -> datetime:
    start = value
    if isinstance(value, str):
        try:
            start = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            start = None
    if not isinstance(start, datetime):
        raise ScenarioError(f"{path}: start: not an ISO 8601 time: {value!r}")
    return start if start.tzinfo else start.replace(tzinfo=UTC)


def _tuple(value) -> tuple[str, ...]:
    return tuple([value] if isinstance(value, str) else value or ())


def _load_envelope(item: Any, base: Path, where: str) -> CompiledEnvelope:
    document = item
    if isinstance(item, str):
        path = (base / item).resolve()
        try:
            document = load_yaml(path.read_text())
        except (OSError, SourceError) as exc:
            raise ScenarioError(f"{where}: cannot read envelope {item}: {exc}") from None
    try:
        return compile_envelope(document)
    except EnvelopeError as exc:
        raise ScenarioError(f"{where}: invalid envelope: {exc}") from None


def parse_scenario(document: Any, *, path: str = "<scenario>", base: Path | None = None, now: datetime | None = None) -> Scenario:
    """Validate a scenario document and expand it into timed steps."""
    if not isinstance(document, dict):
        raise ScenarioError(f"{path}: a scenario is a YAML mapping with steps")
    error = next(iter(sorted(_validator.iter_errors(document), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(scenario)"
        raise ScenarioError(f"{path}: {where}: {error.message}")
    base = base or Path.cwd()
    items = document.get("envelopes") or ([document["envelope"]] if "envelope" in document else [])
    envelopes: dict[str, CompiledEnvelope] = {}
    for i, item in enumerate(items):
        compiled = _load_envelope(item, base, f"{path}: envelopes[{i}]")
        envelopes[compiled.agent] = compiled
    agent = document.get("agent") or (next(iter(envelopes)) if envelopes else "")
    if not agent:
        raise ScenarioError(f"{path}: name the agent under test (agent:) or give an envelope")
    start = _start(document["start"], path) if "start" in document else (now or datetime.now(UTC))
    steps, clock = [], start
    for i, raw in enumerate(document["steps"]):
        where = f"{path}: steps[{i}]"
        if "at" in raw and "after" in raw:
            raise ScenarioError(f"{where}: give at (from start) or after (from the previous step), not both")
        if "at" in raw:
            clock = start + timedelta(seconds=_seconds(raw["at"], f"{where}.at", zero=True))
        elif "after" in raw:
            clock = clock + timedelta(seconds=_seconds(raw["after"], f"{where}.after", zero=True))
        elif i:
            clock = clock + timedelta(seconds=1)  # steps are a second apart unless told otherwise
        step = Step(
            name=raw.get("name") or f"step {i + 1}",
            agent=raw.get("agent", agent),
            action=raw["action"],
            resource=raw.get("resource", ""),
            params=raw.get("params", {}),
            context=raw.get("context", {}),
            at=clock,
            expect=Expectation(_tuple(raw.get("must")), _tuple(raw.get("must_not")), tuple(raw.get("reasons", ()))),
            then=raw.get("then", "pending"),
            repeat=raw.get("repeat", 1),
            every=_seconds(raw.get("every", 1), f"{where}.every"),
        )
        _check_distributions(step.params, f"{where}.params")
        _check_distributions(step.context, f"{where}.context")
        steps.append(step)
        clock = clock + timedelta(seconds=step.every * (step.repeat - 1))
    facts = _load_facts(document["facts"], base, path) if "facts" in document else None
    return Scenario(
        document.get("name") or Path(path).stem, path, agent, envelopes, steps, facts,
        runs=document.get("runs", 1), seed=document.get("seed"), min_restraint=document.get("min_restraint"),
    )


def _load_facts(item: Any, base: Path | None, path: str) -> FactBook:
    if isinstance(item, str):
        file = (base or Path(".")) / item
        try:
            item = load_yaml(file.read_text(), max_bytes=SCENARIO_MAX_BYTES, max_nodes=200_000, what="facts file")
        except (OSError, SourceError) as exc:
            raise ScenarioError(f"{path}: facts: cannot read {file}: {exc}") from None
    try:
        return FactBook(validate_facts(item))
    except FactsError as exc:
        raise ScenarioError(f"{path}: facts: {exc}") from None


def load_scenario(path: Path, *, now: datetime | None = None) -> Scenario:
    try:
        # The envelope loader's bounds (no aliases, nesting); scenarios may be longer.
        document = load_yaml(Path(path).read_text(), max_bytes=SCENARIO_MAX_BYTES, max_nodes=200_000, what="scenario")
    except (OSError, SourceError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    return parse_scenario(document, path=str(path), base=Path(path).parent, now=now)


def with_envelope(scenario: Scenario, agent: str, envelope: CompiledEnvelope) -> Scenario:
    """The scenario with `agent`'s envelope replaced (or, when the scenario has no such agent,
    the envelope of the agent under test)."""
    target = agent if agent in {s.agent for s in scenario.steps} | set(scenario.envelopes) else scenario.agent
    return replace(scenario, envelopes={**scenario.envelopes, target: envelope})


def _fill(value: Any, i: int) -> Any:
    """Substitute {i} (1-based repetition number) in every string of a step."""
    if isinstance(value, str):
        return value.replace("{i}", str(i))
    if isinstance(value, dict):
        return {k: _fill(v, i) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, i) for v in value]
    return value


def step_requests(step: Step, rng: random.Random | None = None):
    """(n, time, resource, params, context) for each repetition of a step, n from 1; with a
    random generator, each repetition draws its own values from the step's distributions."""
    for n in range(1, step.repeat + 1):
        at = step.at + timedelta(seconds=step.every * (n - 1))
        yield n, at, _fill(step.resource, n), _sample(_fill(step.params, n), rng), _sample(_fill(step.context, n), rng)


class _Breakers:
    """The circuit breaker, simulated: violations per agent inside the envelope's window."""

    def __init__(self):
        self.violations: dict[str, list[datetime]] = {}
        self.tripped: set[str] = set()

    def record(self, agent: str, envelope: CompiledEnvelope | None, at: datetime) -> None:
        self.violations.setdefault(agent, []).append(at)
        if envelope is None or not envelope.breaker or agent in self.tripped:
            return
        since = at - timedelta(seconds=envelope.breaker["window"])
        if sum(1 for t in self.violations[agent] if since < t <= at) >= envelope.breaker["violations"]:
            self.tripped.add(agent)


def run_scenario(scenario: Scenario) -> ScenarioResult:
    """Run the scenario `runs` times (once by default). With distributions, the draws come
    from one generator seeded with `seed` (a random seed when none is given, reported), so
    a seed reproduces the run exactly. Each run starts from an empty history."""
    if scenario.runs == 1 and scenario.seed is None and not _has_distributions(scenario):
        return _run_once(scenario, None)
    seed = scenario.seed if scenario.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    total = [StepResult(step) for step in scenario.steps]
    for run in range(1, scenario.runs + 1):
        once = _run_once(scenario, rng)
        for into, step in zip(total, once.steps, strict=True):
            into.decisions += step.decisions
            into.failures += [f"run {run} {failure}" for failure in step.failures]
    return ScenarioResult(scenario, total, runs=scenario.runs, seed=seed)


def _has_distributions(scenario: Scenario) -> bool:
    return any(_check_distributions(s.params, "") or _check_distributions(s.context, "") for s in scenario.steps)


def _run_once(scenario: Scenario, rng: random.Random | None) -> ScenarioResult:
    """Evaluate every step in order; allowed (and escalated, per `then`) steps become history."""
    history = MemoryState(agent=scenario.agent)
    breakers = _Breakers()
    results = []
    for step in scenario.steps:
        result = StepResult(step)
        envelope = scenario.envelopes.get(step.agent)
        for n, at, resource, params, context in step_requests(step, rng):
            supervised = step.agent in breakers.tripped or (envelope is not None and envelope.mode == "supervised")
            request = PolicyRequest(
                action=step.action, resource=resource, params=params, context=context, agent=step.agent, now=at,
                agent_mode="supervised" if supervised else "enforce",
                facts=scenario.facts.lookup(resource).values if scenario.facts is not None else {},
            )
            decision = evaluate(envelope, request, history.for_agent(step.agent))
            result.decisions.append(decision)
            failure = step.expect.failure(decision)
            if failure:
                result.failures.append(f"#{n}: {failure}" if step.repeat > 1 else failure)
            if decision.violation:
                breakers.record(step.agent, envelope, at)
            status = {"allow": "allowed", "deny": "denied", "escalate": step.then}[decision.decision]
            # A pending escalation counts toward max_pending until its deadline.
            expires = at + timedelta(seconds=decision.escalation.ttl_seconds) if decision.escalation else None
            history.history.append(Recorded(step.agent, step.action, resource, params, context, at, status, expires))
        results.append(result)
    return ScenarioResult(scenario, results)


def restraint(results: list[ScenarioResult]) -> tuple[int, int]:
    """(restrained, risky): evaluations of risky steps, and how many of them were not allowed."""
    steps = [s for r in results for s in r.steps]
    return sum(s.restrained for s in steps), sum(s.risky for s in steps)
