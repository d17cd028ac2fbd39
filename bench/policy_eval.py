"""In-process policy evaluation: Airlock's engine (CEL + stateful inputs) beside the same
policy in Cedar (cedarpy) and in agent-governance-toolkit's PolicyEvaluator (AGT), in one
run, on one 20-capability envelope.

    .venv/bin/python bench/policy_eval.py [--iterations N] [--profile] [--no-agt]

Prints median and p99 µs per decision for each request mix and engine, the Airlock/Cedar and
Airlock/AGT ratios, and ends with `RESULT policy_eval vs_agt=... vs_cedar=...` (pooled medians).
AGT is never installed in Airlock's venv: the script creates var/bench-agt-venv with the pinned
version and times AGT in a subprocess of that venv (agt_eval.py), interleaved mix by mix.
SPEC §10 target: Airlock median ≤ 50 µs; issue 16: ≤ 0.5× AGT pooled, no mix slower than AGT.
See bench/README.md for what the numbers mean.
"""

import argparse
import cProfile
import gc
import json
import platform
import pstats
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cedarpy  # noqa: E402

from bench.envelope20 import AGENT, CAPABILITIES, airlock_document, cedar_entities, cedar_policies  # noqa: E402
from bench.envelope20_agt import agt_context, agt_document  # noqa: E402
from bench.history import IndexedState, build_history  # noqa: E402
from bench.timing import timed  # noqa: E402
from governance.policy import PolicyRequest, compile_envelope, evaluate  # noqa: E402

AGT_PIN = "4.1.0"  # agent-governance-toolkit[core]; PolicyEvaluator is in agent-governance-toolkit-core (agent_os)
NOW = datetime(2026, 11, 18, 10, 30, tzinfo=UTC)  # a Wednesday, inside every hours window
SATURDAY = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
BASE = {"confidence": 0.95, "input_source": "system", "session": "trace-1"}


@dataclass(frozen=True)
class Case:
    action: str
    resource: str
    params: dict
    expect: str  # Airlock's answer
    # The answer of an engine that sees only the request (Cedar, AGT) when it differs:
    # what they cannot express. Both are checked against it.
    cedar: str = ""
    context: dict = field(default_factory=dict)
    now: datetime = NOW


def case(action, resource, params, expect, cedar="", now=NOW, **context) -> Case:
    return Case(action, resource, params, expect, cedar or expect, {**BASE, **context}, now)


MIXES: dict[str, list[Case]] = {
    "allow": [
        case("purchase_order.create", "vendor:staples", {"amount": 500, "currency": "USD"}, "allow"),
        case("purchase_order.create", "vendor:globex", {"amount": 800, "currency": "EUR"}, "allow"),
        case("crm.contact.read", "contact:c-42", {}, "allow"),
        case("email.send", "mailbox:ops", {"to": "alice@corp.example", "recipients": 1}, "allow"),
        case("file.read", "s3://reports/q3.csv", {}, "allow"),
        case("db.query", "db:analytics", {"sql": "SELECT 1"}, "allow"),
        case("invoice.pay", "vendor:globex", {"amount": 3000}, "allow"),
        case("service.deploy", "service:web", {"version": "1.5.1"}, "allow", environment="staging"),
        case("ticket.comment", "project:ops", {"body": "ok"}, "allow"),
        case("calendar.read", "calendar:team", {}, "allow"),
        case("catalogue.search", "catalogue:furniture", {"q": "chair"}, "allow"),
    ],
    "escalate": [
        case("purchase_order.create", "vendor:staples", {"amount": 47000, "currency": "USD"}, "escalate"),
        case("purchase_order.cancel", "vendor:globex", {"amount": 9000}, "escalate"),
        case("refund.issue", "customer:c-1001", {"amount": 800}, "escalate"),
        case("refund.issue", "customer:c-1001", {"amount": 100}, "escalate", input_source="user"),
        case("email.send", "mailbox:ops", {"to": "alice@corp.example", "recipients": 120}, "escalate"),
        case("file.write", "s3://reports/q3.csv", {"size_bytes": 1000, "overwrite": True}, "escalate"),
        case("db.migrate", "db:app", {"migration": "0043"}, "escalate", environment="production"),
        case("security_group.update", "sg:web", {"cidr": "0.0.0.0/0"}, "escalate"),
        case("payroll.read", "employee:e-17", {"fields": ["name"]}, "escalate", input_source="user"),
    ],
    "deny": [
        case("purchase_order.create", "vendor:staples", {"amount": 200000, "currency": "USD"}, "deny"),
        case("purchase_order.create", "vendor:globex", {"amount": -5}, "deny"),
        case("purchase_order.create", "vendor:staples", {"amount": 100, "currency": "XYZ"}, "deny"),
        case("refund.issue", "customer:c-1001", {"amount": 9000}, "deny"),
        case("email.send", "mailbox:ops", {"to": "eve@competitor.example", "recipients": 1}, "deny"),
        case("db.query", "db:warehouse", {"sql": "DROP TABLE sales"}, "deny"),
        case("dns.record.create", "zone:example.com", {"type": "NS"}, "deny"),
        case("payroll.read", "employee:e-17", {"fields": ["name", "ssn"]}, "deny"),
    ],
    "no-match": [
        case("user.delete", "account:root", {}, "deny"),
        case("file.read", "s3://secrets/key.pem", {}, "deny"),
        case("purchase_order.create", "customer:c-1", {"amount": 10}, "deny"),
        case("db.query", "db:payroll", {"sql": "SELECT 1"}, "deny"),
        case("k8s.exec", "pod:api-0", {"cmd": "sh"}, "deny"),
        case("file.delete", "s3://reports/q3.csv", {}, "deny"),
    ],
    # Answers that come from history or the clock: Cedar and AGT, seeing neither, allow them.
    "stateful": [
        case("purchase_order.create", "vendor:newco", {"amount": 500, "currency": "USD"}, "escalate", "allow"),
        case("purchase_order.create", "vendor:staples", {"amount": 8000, "currency": "USD"}, "escalate", "allow"),
        case("file.delete", "s3://scratch/tmp-99", {}, "deny", "allow"),
        case("invoice.pay", "vendor:globex", {"amount": 3000}, "escalate", "allow", now=SATURDAY),
        case("dns.record.create", "zone:example.com", {"type": "A"}, "escalate", "allow", session="trace-chain"),
        case("email.send", "mailbox:ops", {"to": "carol@corp.example", "recipients": 1}, "escalate", "allow"),
    ],
}

CANNOT_EXPRESS = [
    "velocity (count of this action in a window) and cumulative sums: Cedar sees one request, no history",
    "novelty (first use of a resource or value) and cross-agent sequences: history again",
    "hours in a named time zone: Cedar's datetime has no weekday or zone rules (DST)",
    "risk score (weighted sum of factors vs a threshold) and supervised mode: no arithmetic on floats",
    "floats at all: amounts must be integers (or decimal strings); confidence cannot be passed",
    "first-match-wins: emulated by negating earlier overlapping scopes in each permit",
    "errors in a forbid make Cedar skip it (fail open); the mapping here counts any error as deny",
]


AGT_CANNOT_EXPRESS = [
    "everything Cedar cannot (history: velocity, cumulative, novelty, sequences; hours in a zone; risk; supervised)",
    "AND: a rule is one condition on one flat key; scoping by action needs the request flattened into "
    "action-prefixed keys, and scoping by resource one 'outside envelope' regex ahead of all rules",
    "escalate: outcomes are allow/audit/deny/block; escalate_when rules are `block`, read as escalate",
    "JSON types in params_schema (a float amount passes); presence only through a regex over the param names",
    "two capabilities on one action with different rules (first match across them needs an AND)",
]


def airlock_request(c: Case) -> PolicyRequest:
    return PolicyRequest(action=c.action, resource=c.resource, params=c.params, context=c.context, agent=AGENT, now=c.now)


def cedar_request(c: Case) -> dict:
    # Cedar has no floats: pass only the string facts its policies read.
    meta = {k: v for k, v in c.context.items() if isinstance(v, str)}
    return {
        "principal": {"type": "Agent", "id": AGENT},
        "action": {"type": "Action", "id": c.action},
        "resource": {"type": "Resource", "id": c.resource},
        "context": {"resource": c.resource, "params": c.params, "meta": meta},
    }


class CedarEngine:
    """One is_authorized call, mapped to allow / deny / escalate (see envelope20.py)."""

    def __init__(self, catalogue: list[str]):
        source, roles = cedar_policies(catalogue)
        self.source = source
        self.roles = {f"policy{i}": role for i, role in enumerate(roles)}
        self.policies = cedarpy.PolicySet.from_str(source)
        self.entities = cedarpy.Entities.from_json_str(json.dumps(cedar_entities(catalogue)))

    def decide(self, request: dict) -> str:
        result = cedarpy.is_authorized(request, self.policies, self.entities)
        if result.diagnostics.errors:
            return "deny"
        if result.allowed:
            return "allow"
        roles = {self.roles[p] for p in result.diagnostics.reasons}
        return "escalate" if roles == {"escalate"} else "deny"


def agt_context_of(c: Case) -> dict:
    return agt_context(c.action, c.resource, c.params, c.context)


def agt_python(venv: Path) -> Path:
    """The bench venv's python with agent-governance-toolkit[core]==AGT_PIN, made on first use."""
    python = venv / "bin" / "python"
    stamp = venv / ".agt-version"
    if python.exists() and stamp.exists() and stamp.read_text() == AGT_PIN:
        return python
    print(f"creating {venv} with agent-governance-toolkit[core]=={AGT_PIN} (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         f"agent-governance-toolkit[core]=={AGT_PIN}"],
        check=True,
    )
    stamp.write_text(AGT_PIN)
    return python


class AgtEngine:
    """AGT's PolicyEvaluator in a subprocess of its own venv (agt_eval.py): answers, then timings."""

    def __init__(self, python: Path, mixes: dict[str, list[Case]]):
        self.proc = subprocess.Popen(
            [str(python), str(ROOT / "bench" / "agt_eval.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        contexts = {name: [agt_context_of(c) for c in cases] for name, cases in mixes.items()}
        reply = self._ask({"document": agt_document(), "mixes": contexts})
        self.version, self.rules, self.answers = reply["version"], reply["rules"], reply["answers"]

    def _ask(self, message: dict):
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"agt_eval.py stopped (exit {self.proc.wait()})")
        return json.loads(line)

    def timed(self, mix: str, iterations: int) -> list[float]:
        return self._ask({"mix": mix, "iterations": iterations})

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=20000, help="timed decisions per mix and engine")
    parser.add_argument("--profile", action="store_true", help="cProfile Airlock over all mixes and print the top")
    parser.add_argument("--show-cedar", action="store_true", help="print the generated Cedar policy set")
    parser.add_argument("--show-agt", action="store_true", help="print the generated AGT policy document")
    parser.add_argument("--no-agt", action="store_true", help="leave AGT out (no venv, no subprocess)")
    parser.add_argument("--agt-venv", type=Path, default=ROOT / "var" / "bench-agt-venv", help="AGT's own venv")
    args = parser.parse_args()

    compiled = compile_envelope(airlock_document(), version=1)
    history = build_history(AGENT, NOW)
    state = IndexedState(AGENT, history)
    catalogue = sorted({c.action for mix in MIXES.values() for c in mix} | {r.action for r in history})
    cedar = CedarEngine(catalogue)
    if args.show_cedar:
        print(cedar.source)
        return 0
    if args.show_agt:
        print(json.dumps(agt_document(), indent=1))
        return 0
    agt = None if args.no_agt or args.profile else AgtEngine(agt_python(args.agt_venv), MIXES)

    # Every engine must give the answers the mixes claim before its speed means anything.
    problems = []
    for name, cases in MIXES.items():
        for i, c in enumerate(cases):
            got = evaluate(compiled, airlock_request(c), state)
            if got.decision != c.expect:
                problems.append(f"airlock {name}: {c.action} {c.resource} → {got.decision} {got.reasons}, expected {c.expect}")
            got_cedar = cedar.decide(cedar_request(c))
            if got_cedar != c.cedar:
                problems.append(f"cedar {name}: {c.action} {c.resource} → {got_cedar}, expected {c.cedar}")
            if agt and agt.answers[name][i] != c.cedar:
                problems.append(f"agt {name}: {c.action} {c.resource} → {agt.answers[name][i]}, expected {c.cedar}")
    if problems:
        print("the engines do not answer as the mixes expect:", *problems, sep="\n  ")
        return 1

    if args.profile:
        requests = [airlock_request(c) for cases in MIXES.values() for c in cases]
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(args.iterations):
            evaluate(compiled, requests[i % len(requests)], state)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
        return 0

    print(
        f"Policy evaluation, in process: {len(CAPABILITIES)}-capability envelope, "
        f"{len(history)} history events, {args.iterations} decisions per mix and engine"
    )
    print(
        f"python {platform.python_version()}, common-expression-language {version('common-expression-language')}, "
        f"cedarpy {version('cedarpy')}; Cedar: pre-parsed PolicySet ({len(cedar.roles)} policies) and Entities"
    )
    if agt:
        print(f"agent-governance-toolkit-core {agt.version}: PolicyEvaluator, {agt.rules} rules, in {args.agt_venv}")
    print()
    engines = ["airlock", "cedar", *(["agt"] if agt else [])]
    header = (f"{'mix':<10} {'n':>3}" + "".join(f"  {e + ' median':>14} {'p99':>8}" for e in engines)
              + f"  {'vs cedar':>8}" + (f"  {'vs agt':>7}" if agt else "") + "  agree")
    print(header)
    print("-" * len(header))
    pooled: dict[str, list[float]] = {e: [] for e in engines}
    by_mix: dict[str, dict[str, float]] = {}

    def row(name: str, n: int, samples: dict[str, list[float]], agree: str) -> dict[str, float]:
        med = {e: statistics.median(samples[e]) for e in engines}
        cells = "".join(f"  {med[e]:>11.1f} µs {pct(samples[e], 0.99):>5.1f} µs" for e in engines)
        ratios = f"  {med['airlock'] / med['cedar']:>7.2f}x" + (f"  {med['airlock'] / med['agt']:>6.2f}x" if agt else "")
        print(f"{name:<10} {n:>3}{cells}{ratios}  {agree}")
        return med

    for name, cases in MIXES.items():
        a_in = [airlock_request(c) for c in cases]
        c_in = [cedar_request(c) for c in cases]
        samples = {}
        gc.collect()
        samples["airlock"] = timed(lambda r: evaluate(compiled, r, state), a_in, args.iterations)
        gc.collect()
        samples["cedar"] = timed(cedar.decide, c_in, args.iterations)
        if agt:
            samples["agt"] = agt.timed(name, args.iterations)
        for e in engines:
            pooled[e] += samples[e]
        agree = sum(1 for x in cases if x.expect == x.cedar)
        by_mix[name] = row(name, len(cases), samples, f"{agree}/{len(cases)}")
    if agt:
        agt.close()
    print("-" * len(header))
    med = row("all", sum(len(c) for c in MIXES.values()), pooled, "")
    am = med["airlock"]
    print()
    verdict = "meets" if am <= 50 else "MISSES"
    print(f"SPEC §10 target: Airlock median ≤ 50 µs per decision — {verdict} it ({am:.1f} µs over all mixes).")
    result = f"RESULT policy_eval vs_cedar={am / med['cedar']:.3f}"
    if agt:
        worst = max(by_mix, key=lambda m: by_mix[m]["airlock"] / by_mix[m]["agt"])
        worst_ratio = by_mix[worst]["airlock"] / by_mix[worst]["agt"]
        verdict = "meets" if am / med["agt"] <= 0.5 and worst_ratio <= 1 else "MISSES"
        print(f"Issue 16 target: ≤ 0.5× AGT pooled and no mix slower — {verdict} it "
              f"({am / med['agt']:.2f}× pooled; slowest mix against AGT: {worst}, {worst_ratio:.2f}×).")
        result = (f"RESULT policy_eval vs_agt={am / med['agt']:.3f} vs_cedar={am / med['cedar']:.3f} "
                  f"worst_mix_vs_agt={worst_ratio:.3f} airlock_us={am:.1f} agt_us={med['agt']:.1f} cedar_us={med['cedar']:.1f}")
    else:
        result += f" airlock_us={am:.1f} cedar_us={med['cedar']:.1f}"
    print("'agree': requests where Cedar and AGT give Airlock's answer; the 'stateful' mix is what they cannot see.")
    print("Cedar cannot express:")
    for line in CANNOT_EXPRESS:
        print(f"  - {line}")
    if agt:
        print("AGT cannot express:")
        for line in AGT_CANNOT_EXPRESS:
            print(f"  - {line}")
    print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
