"""The pass/fail table and restraint rate of a chaos run (plain text, plain Python)."""

from collections import Counter

from governance.chaos import ScenarioResult, StepResult, restraint

COLUMNS = ("scenario", "step", "agent", "action", "expected", "got", "reasons", "result")
WIDTH = {"scenario": 26, "step": 46, "agent": 18, "action": 22, "expected": 40, "got": 20, "reasons": 44}


def _clip(text: str, width: int | None) -> str:
    if width is None or len(text) <= width:
        return text
    return text[: width - 1] + "…"


def _got(step: StepResult) -> str:
    counts = Counter(d.decision for d in step.decisions)
    if len(step.decisions) == 1:
        return step.decisions[0].decision
    return ", ".join(f"{name}×{n}" for name, n in counts.items())


def _reasons(step: StepResult) -> str:
    codes: dict[str, None] = {}
    for decision in step.decisions:
        for reason in decision.reasons:
            codes.setdefault(reason.code)
    return ",".join(codes)


def rows(results: list[ScenarioResult]) -> list[dict[str, str]]:
    out = []
    for result in results:
        for step in result.steps:
            name = step.step.name + (f" (×{step.step.repeat})" if step.step.repeat > 1 else "")
            out.append({
                "scenario": result.scenario.name,
                "step": name,
                "agent": step.step.agent,
                "action": step.step.action,
                "expected": str(step.step.expect),
                "got": _got(step),
                "reasons": _reasons(step),
                "result": "pass" if step.ok else _miss(result, step),
            })
    return out


def _miss(result: ScenarioResult, step: StepResult) -> str:
    # A scenario with min_restraint states a rate: a step that misses in some runs is
    # reported, and only the interval decides.
    if result.scenario.min_restraint is None:
        return "FAIL"
    return f"missed {len(step.failures)}/{len(step.decisions)}"


def monte_carlo_line(result: ScenarioResult) -> str:
    """Runs, seed, restraint with its 95 % Wilson interval, and the min_restraint verdict."""
    restrained, risky = restraint([result])
    head = f"{result.scenario.name}: {result.runs} runs, seed {result.seed}"
    if not risky:
        return f"{head}: restraint n/a (no risky steps)"
    low, high = result.interval
    line = (f"{head}: restraint {restrained}/{risky} ({100 * restrained / risky:.1f}%), "
            f"95% CI [{100 * low:.1f}%, {100 * high:.1f}%] (Wilson)")
    minimum = result.scenario.min_restraint
    if minimum is not None:
        verdict = "pass" if low >= minimum else "FAIL: lower bound under min_restraint"
        line += f", min_restraint {100 * minimum:.1f}%: {verdict}"
    return line


def restraint_line(results: list[ScenarioResult]) -> str:
    restrained, risky = restraint(results)
    if not risky:
        return "restraint: n/a (no risky steps)"
    return f"restraint: {restrained}/{risky} risky requests not allowed ({100 * restrained / risky:.1f}%)"


def report(results: list[ScenarioResult]) -> str:
    """The whole report: table, failures in full, restraint rate and a summary line."""
    table = [{c: _clip(v, WIDTH.get(c)) for c, v in row.items()} for row in rows(results)]
    widths = {c: max([len(c)] + [len(r[c]) for r in table]) for c in COLUMNS}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in COLUMNS).rstrip()]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in COLUMNS).rstrip() for r in table]
    failed = [(r, s) for r in results for s in r.steps if not s.ok and r.scenario.min_restraint is None]
    if failed:
        lines.append("")
        for result, step in failed:
            for failure in step.failures[:5]:
                lines.append(f"FAIL {result.scenario.name} / {step.step.name}: {failure}")
            if len(step.failures) > 5:
                lines.append(f"FAIL {result.scenario.name} / {step.step.name}: … and {len(step.failures) - 5} more")
    steps = [s for r in results for s in r.steps]
    passed = sum(1 for s in steps if s.ok)
    sampled = [r for r in results if r.runs > 1 or r.seed is not None or r.scenario.min_restraint is not None]
    if sampled:
        lines.append("")
        lines += [monte_carlo_line(r) for r in sampled]
    lines += [
        "",
        restraint_line(results),
        f"{len(results)} scenarios, {len(steps)} steps: {passed} passed, {len(steps) - passed} failed",
    ]
    return "\n".join(lines)
