"""The benchmark's 20-capability envelope, written once and rendered twice: as an Airlock
envelope (CEL conditions, stateful checks) and as the equivalent Cedar policy set.

Each capability lists its CEL conditions beside their Cedar translation, so the two
policies are visibly the same rules. What Cedar cannot say (velocity, cumulative sums,
novelty, hours in a named time zone, sequences, risk scoring) is kept Airlock-only and
marked as such; the request mixes in policy_eval.py say which answers it changes.

Cedar modelling (one is_authorized call per decision, three answers out of two):
- each capability is one `permit` whose scope is its action and resource patterns, minus
  the patterns of earlier capabilities that overlap it (Airlock's first match wins);
- params_schema and deny_when become `forbid` policies marked "deny";
- escalate_when becomes `forbid` policies marked "escalate";
- Allow → allow; Deny with any "deny" forbid → deny; Deny with only "escalate" forbids →
  escalate; Deny with no forbid (no permit matched) → deny; any evaluation error → deny.
Action globs become Cedar action groups (`action in Action::"crm.*"`); resource globs
become `like` on the resource string, passed in context because Cedar entity ids cannot
be pattern-matched.
"""

from fnmatch import fnmatchcase

AGENT = "ops-bot"

PO_SCHEMA = {
    "type": "object",
    "required": ["amount"],
    "properties": {"amount": {"type": "integer", "minimum": 0}, "currency": {"enum": ["USD", "EUR", "GBP"]}},
}
PO_INVALID = (
    '!(context.params has amount) || context.params.amount < 0 || '
    '(context.params has currency && !["USD", "EUR", "GBP"].contains(context.params.currency))'
)
AMOUNT_SCHEMA = {
    "type": "object",
    "required": ["amount"],
    "properties": {"amount": {"type": "integer", "minimum": 0}},
}
AMOUNT_INVALID = "!(context.params has amount) || context.params.amount < 0"

# name, action, resources, params_schema (+ its Cedar "invalid" test), deny_when and
# escalate_when as (CEL, Cedar) pairs, and the Airlock-only stateful checks.
CAPABILITIES: list[dict] = [
    {
        "name": "orders from approved vendors",
        "action": "purchase_order.create",
        "resources": ["vendor:staples", "vendor:acme-office"],
        "params_schema": PO_SCHEMA, "cedar_invalid": PO_INVALID,
        "deny_when": [("params.amount > 100000", "context.params.amount > 100000")],
        "escalate_when": [("params.amount > 10000", "context.params.amount > 10000")],
        "velocity": {"max": 100, "per": "10m", "over": "escalate"},
        "cumulative": {"param": "amount", "max": 30000, "per": "24h", "over": "escalate"},
    },
    {
        "name": "orders from other vendors",
        "action": "purchase_order.create",
        "resources": ["vendor:*"],
        "params_schema": PO_SCHEMA, "cedar_invalid": PO_INVALID,
        "deny_when": [("params.amount > 100000", "context.params.amount > 100000")],
        "escalate_when": [("params.amount > 10000", "context.params.amount > 10000")],
        "escalate_on_novel": ["resource"],
        "velocity": {"max": 100, "per": "10m", "over": "escalate"},
        "cumulative": {"param": "amount", "max": 30000, "per": "24h", "over": "escalate"},
    },
    {
        "name": "cancel orders",
        "action": "purchase_order.cancel",
        "resources": ["vendor:*"],
        "params_schema": AMOUNT_SCHEMA, "cedar_invalid": AMOUNT_INVALID,
        "escalate_when": [("params.amount > 5000", "context.params.amount > 5000")],
    },
    {
        "name": "pay invoices",
        "action": "invoice.pay",
        "resources": ["vendor:*"],
        "params_schema": AMOUNT_SCHEMA, "cedar_invalid": AMOUNT_INVALID,
        "deny_when": [("params.amount > 250000", "context.params.amount > 250000")],
        "escalate_when": [("params.amount > 20000", "context.params.amount > 20000")],
        "cumulative": {"param": "amount", "max": 100000, "per": "24h", "over": "escalate"},
        "hours": {"allow": "Mon-Fri 07:00-19:00", "tz": "Europe/London", "outside": "escalate"},
    },
    {
        "name": "refunds",
        "action": "refund.issue",
        "resources": ["customer:*"],
        "params_schema": AMOUNT_SCHEMA, "cedar_invalid": AMOUNT_INVALID,
        "deny_when": [("params.amount > 5000", "context.params.amount > 5000")],
        "escalate_when": [
            ("params.amount > 500", "context.params.amount > 500"),
            (
                "has(context.input_source) && context.input_source == 'user'",
                'context.meta has input_source && context.meta.input_source == "user"',
            ),
        ],
        "velocity": {"max": 50, "per": "1h", "over": "escalate"},
    },
    {
        "name": "CRM",
        "action": "crm.*",
        "resources": ["contact:*", "account:*"],
        "velocity": {"max": 1000, "per": "1h", "over": "escalate"},
    },
    {
        "name": "mail colleagues",
        "action": "email.send",
        "resources": ["mailbox:ops"],
        "deny_when": [("params.to.endsWith('@competitor.example')", 'context.params.to like "*@competitor.example"')],
        "escalate_when": [("params.recipients > 50", "context.params.recipients > 50")],
        "params_schema": {
            "type": "object",
            "required": ["to", "recipients"],
            "properties": {"to": {"type": "string"}, "recipients": {"type": "integer", "minimum": 1}},
        },
        "cedar_invalid": "!(context.params has to) || !(context.params has recipients) || context.params.recipients < 1",
        "escalate_on_novel": ["params.to"],
    },
    {
        "name": "read reports",
        "action": "file.read",
        "resources": ["s3://reports/*", "s3://shared/*"],
    },
    {
        "name": "write reports",
        "action": "file.write",
        "resources": ["s3://reports/*"],
        "deny_when": [("params.size_bytes > 100000000", "context.params.size_bytes > 100000000")],
        "escalate_when": [
            ("has(params.overwrite) && params.overwrite", "context.params has overwrite && context.params.overwrite")
        ],
        "params_schema": {
            "type": "object",
            "required": ["size_bytes"],
            "properties": {"size_bytes": {"type": "integer", "minimum": 0}, "overwrite": {"type": "boolean"}},
        },
        "cedar_invalid": "!(context.params has size_bytes) || context.params.size_bytes < 0",
    },
    {
        "name": "clean scratch space",
        "action": "file.delete",
        "resources": ["s3://scratch/*"],
        "velocity": {"max": 20, "per": "1h", "over": "deny"},
    },
    {
        "name": "analytics queries",
        "action": "db.query",
        "resources": ["db:analytics", "db:warehouse"],
        "deny_when": [
            ("params.sql.contains('DROP') || params.sql.contains('DELETE')", 'context.params.sql like "*DROP*" || context.params.sql like "*DELETE*"')
        ],
        "params_schema": {"type": "object", "required": ["sql"], "properties": {"sql": {"type": "string", "maxLength": 4000}}},
        "cedar_invalid": "!(context.params has sql)",
    },
    {
        "name": "schema migrations",
        "action": "db.migrate",
        "resources": ["db:*"],
        "escalate_when": [
            (
                "has(context.environment) && context.environment == 'production'",
                'context.meta has environment && context.meta.environment == "production"',
            )
        ],
    },
    {
        "name": "deploy services",
        "action": "service.deploy",
        "resources": ["service:*"],
        "escalate_when": [
            (
                "has(context.environment) && context.environment == 'production'",
                'context.meta has environment && context.meta.environment == "production"',
            )
        ],
        "hours": {"allow": "Mon-Fri 09:00-17:00", "tz": "Europe/London", "outside": "escalate"},
    },
    {
        "name": "security groups",
        "action": "security_group.update",
        "resources": ["sg:*"],
        "escalate_when": [("params.cidr == '0.0.0.0/0'", 'context.params.cidr == "0.0.0.0/0"')],
        "params_schema": {"type": "object", "required": ["cidr"], "properties": {"cidr": {"type": "string"}}},
        "cedar_invalid": "!(context.params has cidr)",
    },
    {
        "name": "DNS records",
        "action": "dns.record.create",
        "resources": ["zone:*"],
        "deny_when": [("params.type == 'NS'", 'context.params.type == "NS"')],
        "params_schema": {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}},
        "cedar_invalid": "!(context.params has type)",
    },
    {
        "name": "open tickets",
        "action": "ticket.create",
        "resources": ["project:*"],
        "velocity": {"max": 500, "per": "1h", "over": "escalate"},
    },
    {
        "name": "comment on tickets",
        "action": "ticket.comment",
        "resources": ["project:*"],
    },
    {
        "name": "payroll lookups",
        "action": "payroll.read",
        "resources": ["employee:*"],
        "deny_when": [("'ssn' in params.fields", 'context.params.fields.contains("ssn")')],
        "escalate_when": [
            (
                "has(context.input_source) && context.input_source == 'user'",
                'context.meta has input_source && context.meta.input_source == "user"',
            )
        ],
        "params_schema": {"type": "object", "required": ["fields"], "properties": {"fields": {"type": "array", "items": {"type": "string"}}}},
        "cedar_invalid": "!(context.params has fields)",
    },
    {
        "name": "calendars",
        "action": "calendar.*",
        "resources": ["calendar:*"],
    },
    {
        "name": "catalogue",
        "action": "catalogue.*",
    },
]
assert len(CAPABILITIES) == 20

SEQUENCES = [
    {
        "name": "exposure-chain",
        "within": "30m",
        "match": ["security_group.*", "service.deploy", "dns.record.create"],
        "key": "context.session",
        "on_complete": "escalate",
    }
]


def airlock_document() -> dict:
    """The envelope as Airlock stores it (what envelope_apply would get from YAML)."""
    caps = []
    for cap in CAPABILITIES:
        out = {"name": cap["name"], "action": cap["action"]}
        if "resources" in cap:
            out["resources"] = cap["resources"]
        for key in ("params_schema", "escalate_on_novel", "velocity", "cumulative", "hours"):
            if key in cap:
                out[key] = cap[key]
        for key in ("deny_when", "escalate_when"):
            if key in cap:
                out[key] = [cel for cel, _cedar in cap[key]]
        caps.append(out)
    return {
        "agent": AGENT,
        "mode": "enforce",
        "default": "deny",
        "approvers": ["ops"],
        "quorum": 1,
        "escalation_ttl": "15m",
        "risk_threshold": 0.8,
        "breaker": {"violations": 5, "window": "10m"},
        "capabilities": caps,
        "sequences": SEQUENCES,
    }


def _cedar_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _action_test(pattern: str) -> str:
    if "*" in pattern:
        return f"action in Action::{_cedar_str(pattern)}"
    return f"action == Action::{_cedar_str(pattern)}"


def _resource_test(cap: dict) -> str:
    patterns = cap.get("resources", ["*"])
    if "*" in patterns:
        return "true"
    # Cedar's `like` knows only `*`, which is all the envelope uses here.
    return "(" + " || ".join(f"context.resource like {_cedar_str(p)}" for p in patterns) + ")"


def _actions_overlap(a: str, b: str, catalogue: list[str]) -> bool:
    return a == b or any(fnmatchcase(x, a) and fnmatchcase(x, b) for x in catalogue)


def cedar_policies(catalogue: list[str]) -> tuple[str, list[str]]:
    """Cedar source and, per policy (policy0, policy1, ...), its role: permit/deny/escalate."""
    texts: list[str] = []
    roles: list[str] = []
    for i, cap in enumerate(CAPABILITIES):
        scope = [_resource_test(cap)]
        # First match wins in Airlock: an earlier capability that covers the request shadows this one.
        for earlier in CAPABILITIES[:i]:
            if _actions_overlap(earlier["action"], cap["action"], catalogue):
                scope.append(f"!({_action_test(earlier['action'])} && {_resource_test(earlier)})")
        head = f"principal == Agent::{_cedar_str(AGENT)}, {_action_test(cap['action'])}, resource"
        where = " && ".join(scope)
        texts.append(f"// {cap['name']}\npermit({head}) when {{ {where} }};")
        roles.append("permit")
        if "cedar_invalid" in cap:
            texts.append(f"forbid({head}) when {{ {where} && ({cap['cedar_invalid']}) }};")
            roles.append("deny")
        for _cel, cedar in cap.get("deny_when", []):
            texts.append(f"forbid({head}) when {{ {where} && ({cedar}) }};")
            roles.append("deny")
        for _cel, cedar in cap.get("escalate_when", []):
            texts.append(f"forbid({head}) when {{ {where} && ({cedar}) }};")
            roles.append("escalate")
    return "\n".join(texts), roles


def cedar_entities(catalogue: list[str]) -> list[dict]:
    """Concrete actions and the glob groups they belong to (Cedar action groups)."""
    groups = sorted({c["action"] for c in CAPABILITIES if "*" in c["action"]})
    out = [{"uid": {"type": "Action", "id": g}, "attrs": {}, "parents": []} for g in groups]
    for action in catalogue:
        parents = [{"type": "Action", "id": g} for g in groups if fnmatchcase(action, g)]
        out.append({"uid": {"type": "Action", "id": action}, "attrs": {}, "parents": parents})
    return out
