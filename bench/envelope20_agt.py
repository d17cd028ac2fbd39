"""The benchmark's 20-capability envelope (envelope20.py) as an agent-governance-toolkit
(AGT) policy document for `agent_os.policies.PolicyEvaluator`, and the request flattening
that evaluator needs. Plain data: nothing here imports AGT, which lives only in the bench's
own venv (policy_eval.py creates it; agt_eval.py runs there).

AGT's model, and how the envelope is mapped onto it:
- a rule is ONE condition `{field, operator, value}` on a flat context dict (`context.get(field)`;
  a missing field never matches); operators eq/ne/gt/lt/gte/lte/in/not_in/contains/matches
  (`re.search`); rules are tried by priority, the first that matches decides; no match → the
  document's default (here deny). There is no AND between conditions and no nesting.
- outcomes are allow/audit (allowed) and deny/block (not allowed). AGT has no "escalate":
  escalate_when rules are `block` rules, which the bench reads as escalate (as Cedar's mapping
  reads forbids marked "escalate").
- scoping a condition to a capability needs an AND (action and resource and param), which AGT
  lacks. The bench flattens each request mechanically, without knowing the policy:
  `call` = "<action> <resource>", `<action>:params.<name>` for each param,
  `<action>:context.<name>` for each context value, and `<action>:params` = ",a,b," (the param
  names, for presence tests). A condition on `refund.issue:params.amount` therefore only ever
  sees refunds.
- the resource part of the scope is one rule ahead of all the others: `call` must match one of
  the capabilities' action+resource patterns (a regex with a negative lookahead), else deny
  "outside envelope". After it, every request is inside some capability; capabilities that
  share an action here (the two purchase_order.create ones) share their rules, so scoping by
  action is exact for this envelope (not in general: two capabilities on one action with
  different rules cannot be told apart without an AND).
- params_schema becomes presence tests (negative lookahead over the names), minimum tests
  (`lt`), enums (`not_in`) and a maxLength regex. JSON types cannot be tested: a float amount
  passes, a string amount makes `lt` raise and AGT fails closed (deny) by accident.
- deny_when / escalate_when: each CEL condition here is one comparison, so one rule each;
  `has(x) && x == v` is `eq` (missing never matches); `endsWith` is a `$` regex; `contains`
  on a list is `contains`, on a string a regex.
- not expressible at all: velocity, cumulative budgets, novelty, sequences (no history),
  hours in a time zone (only with AGT's DynamicContext, and without zones or weekday
  windows per rule), the risk score, supervised mode, first match across capabilities
  with different rules on one action.
"""

import re

from bench.envelope20 import AGENT, CAPABILITIES

# Per capability name: the rules AGT can express, as (key, operator, value, outcome), in the
# envelope's order within each kind. key is "params.<name>", "context.<name>" or "params" (names).
AMOUNT_VALID = [("params", "matches", r"^(?!.*,amount,)", "deny"), ("params.amount", "lt", 0, "deny")]
PO_VALID = [*AMOUNT_VALID, ("params.currency", "not_in", ["USD", "EUR", "GBP"], "deny")]
FROM_USER = ("context.input_source", "eq", "user", "escalate")
IN_PRODUCTION = ("context.environment", "eq", "production", "escalate")

RULES: dict[str, list[tuple[str, str, object, str]]] = {
    "orders from approved vendors": [
        *PO_VALID, ("params.amount", "gt", 100000, "deny"), ("params.amount", "gt", 10000, "escalate"),
    ],
    "orders from other vendors": [
        *PO_VALID, ("params.amount", "gt", 100000, "deny"), ("params.amount", "gt", 10000, "escalate"),
    ],
    "cancel orders": [*AMOUNT_VALID, ("params.amount", "gt", 5000, "escalate")],
    "pay invoices": [*AMOUNT_VALID, ("params.amount", "gt", 250000, "deny"), ("params.amount", "gt", 20000, "escalate")],
    "refunds": [
        *AMOUNT_VALID, ("params.amount", "gt", 5000, "deny"), ("params.amount", "gt", 500, "escalate"), FROM_USER,
    ],
    "CRM": [],
    "mail colleagues": [
        ("params", "matches", r"^(?!.*,to,)", "deny"),
        ("params", "matches", r"^(?!.*,recipients,)", "deny"),
        ("params.recipients", "lt", 1, "deny"),
        ("params.to", "matches", r"@competitor\.example\Z", "deny"),
        ("params.recipients", "gt", 50, "escalate"),
    ],
    "read reports": [],
    "write reports": [
        ("params", "matches", r"^(?!.*,size_bytes,)", "deny"),
        ("params.size_bytes", "lt", 0, "deny"),
        ("params.size_bytes", "gt", 100000000, "deny"),
        ("params.overwrite", "eq", True, "escalate"),
    ],
    "clean scratch space": [],
    "analytics queries": [
        ("params", "matches", r"^(?!.*,sql,)", "deny"),
        ("params.sql", "matches", r"(?s)\A.{4001}", "deny"),
        ("params.sql", "matches", "DROP|DELETE", "deny"),
    ],
    "schema migrations": [IN_PRODUCTION],
    "deploy services": [IN_PRODUCTION],
    "security groups": [("params", "matches", r"^(?!.*,cidr,)", "deny"), ("params.cidr", "eq", "0.0.0.0/0", "escalate")],
    "DNS records": [("params", "matches", r"^(?!.*,type,)", "deny"), ("params.type", "eq", "NS", "deny")],
    "open tickets": [],
    "comment on tickets": [],
    "payroll lookups": [
        ("params", "matches", r"^(?!.*,fields,)", "deny"), ("params.fields", "contains", "ssn", "deny"), FROM_USER,
    ],
    "calendars": [],
    "catalogue": [],
}
assert set(RULES) == {c["name"] for c in CAPABILITIES}

# AGT outcome per envelope outcome, and back: AGT has no escalate (see the docstring).
AGT_ACTION = {"deny": "deny", "escalate": "block", "allow": "allow"}
ANSWER = {"deny": "deny", "block": "escalate", "allow": "allow", "audit": "allow"}


def _glob_regex(pattern: str) -> str:
    # The envelope's globs use only `*`.
    return ".*".join(re.escape(part) for part in pattern.split("*"))


def _scope_regex(cap: dict) -> str:
    resources = "|".join(_glob_regex(r) for r in cap.get("resources", ["*"]))
    return f"{_glob_regex(cap['action'])} (?:{resources})"


def agt_document() -> dict:
    """The PolicyDocument (as the dict PolicyDocument.model_validate takes) and nothing else.

    Rule order = priority: outside the envelope, then every deny, then every escalate, then
    the capabilities' permits in envelope order; default deny. Airlock checks a capability's
    deny rules before its escalate rules, and actions never share a key, so putting all denies
    first keeps each capability's order. Rules identical to an earlier one are left out."""
    scopes = "|".join(_scope_regex(c) for c in CAPABILITIES)
    rules: list[dict] = [{
        "name": "deny: outside envelope",
        "condition": {"field": "call", "operator": "matches", "value": f"(?s)^(?!(?:{scopes})\\Z)"},
        "action": "deny",
    }]
    seen = set()
    for outcome in ("deny", "escalate"):
        for cap in CAPABILITIES:
            for key, op, value, out in RULES[cap["name"]]:
                field = f"{cap['action']}:{key}"
                if out != outcome or (field, op, repr(value)) in seen:
                    continue
                seen.add((field, op, repr(value)))
                rules.append({
                    "name": f"{outcome}: {cap['name']}: {key} {op} {value}",
                    "condition": {"field": field, "operator": op, "value": value},
                    "action": AGT_ACTION[outcome],
                })
    for cap in CAPABILITIES:
        rules.append({
            "name": f"allow: {cap['name']}",
            "condition": {"field": "call", "operator": "matches", "value": f"(?s)^(?:{_scope_regex(cap)})\\Z"},
            "action": "allow",
        })
    for i, rule in enumerate(rules):
        rule["priority"] = len(rules) - i
    return {
        "version": "1.0",
        "name": f"airlock-envelope20-{AGENT}",
        "description": "bench/envelope20.py translated for AGT's PolicyEvaluator",
        "rules": rules,
        "defaults": {"action": "deny"},
    }


def agt_context(action: str, resource: str, params: dict, context: dict) -> dict:
    """One request as AGT's flat context (policy-agnostic: every param and context value)."""
    out = {"tool_name": action, "call": f"{action} {resource}", f"{action}:params": "," + ",".join(params) + ","}
    for key, value in params.items():
        out[f"{action}:params.{key}"] = value
    for key, value in context.items():
        out[f"{action}:context.{key}"] = value
    return out
