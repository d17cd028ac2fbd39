"""The AGT side of policy_eval.py. Runs in the bench's own venv (var/bench-agt-venv, where
agent-governance-toolkit is installed), never in Airlock's: policy_eval.py starts it and
talks to it over stdin/stdout, one JSON document per line.

    in:  {"document": {...}, "mixes": {name: [flat context, ...]}}
    out: {"version": "...", "rules": n, "answers": {name: [allow|deny|escalate, ...]}}
    then, per line in: {"mix": name, "iterations": n}
    out: [µs per call, ...]

Self-contained on purpose (it cannot import the project, whose dependencies are not in this
venv), except for bench/timing.py, the timing loop policy_eval.py uses too.
"""

import gc
import json
import sys
import warnings
from importlib.metadata import version

from timing import timed  # bench/timing.py: this script's directory is on sys.path

with warnings.catch_warnings():
    # 4.1.0 warns that its own agent_os package is deprecated in favour of the distribution
    # that ships it (agent-governance-toolkit-core); it is the same code.
    warnings.simplefilter("ignore", DeprecationWarning)
    from agent_os.policies import PolicyDocument, PolicyEvaluator

# AGT's outcome → the envelope's (the envelope's escalate rules are AGT `block` rules).
ANSWER = {"deny": "deny", "block": "escalate", "allow": "allow", "audit": "allow"}


def main() -> int:
    setup = json.loads(sys.stdin.readline())
    document = PolicyDocument.model_validate(setup["document"])
    evaluator = PolicyEvaluator(policies=[document])
    mixes = setup["mixes"]

    def decide(context: dict) -> str:
        return ANSWER[evaluator.evaluate(context).action]

    answers = {name: [decide(c) for c in contexts] for name, contexts in mixes.items()}
    reply = {"version": version("agent-governance-toolkit-core"), "rules": len(document.rules), "answers": answers}
    print(json.dumps(reply), flush=True)
    for line in sys.stdin:
        ask = json.loads(line)
        gc.collect()
        samples = timed(evaluator.evaluate, mixes[ask["mix"]], ask["iterations"])
        print(json.dumps([round(s, 3) for s in samples]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
