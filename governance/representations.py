"""A decision request as JSON: the shape of the API's answers and of agent callbacks (SPEC §4).

In the domain because both the API and the callbacks (approvals) send it, byte for byte.
"""

from governance.decide import effective_status
from governance.models import DecisionRequest


def decision_json(row: DecisionRequest) -> dict:
    return {
        "id": str(row.id),
        "decision": row.decision,
        "status": effective_status(row),
        "reasons": row.reasons,
        "risk": row.risk,
        "expires_at": row.expires_at.isoformat().replace("+00:00", "Z") if row.expires_at else None,
        "envelope_version": row.envelope_version,
        "digest": row.digest,
    }


def request_json(row: DecisionRequest) -> dict:
    return {
        **decision_json(row),
        "action": row.action,
        "resource": row.resource,
        "params": row.params,
        "created_at": row.created_at.isoformat().replace("+00:00", "Z"),
        "decided_by": row.decided_by,
        "decided_at": row.decided_at.isoformat().replace("+00:00", "Z") if row.decided_at else None,
        "comment": row.comment,
        "approved_params": row.approved_params,
        "outcome": row.reported_outcome,
    }
