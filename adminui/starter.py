"""The first envelope of a new agent: valid as it stands (it denies everything), with
comments that show what each part does and a commented example capability to start from."""

STARTER = """\
# Capability envelope of {name}: what this agent may do without asking.
# Anything that matches no capability below is answered by `default`.
agent: {name}
mode: enforce            # enforce | supervised (every allow is sent to a person)
default: deny            # deny | escalate, for actions no capability covers
approvers: []            # groups whose members answer escalations, e.g. [finance]
quorum: 1                # approvals needed; one deny from an approver rejects at once
escalation_ttl: 15m      # unanswered escalations expire (= deny) after this
# breaker: {{violations: 5, window: 10m}}   # after this many violations: supervised
#
# Add rules with the templates beside the editor, or write them here. An example:
#   - action: purchase_order.create         # globs allowed: "crm.*"
#     resources: ["vendor:*"]
#     escalate_when: ["params.amount > 10000"]   # CEL over action, resource, params, context, now, agent
#     deny_when: ["params.amount > 100000"]
#     velocity: {{max: 100, per: 10m, over: escalate}}
capabilities: []
"""


def starter_envelope(name: str) -> str:
    return STARTER.format(name=name)
