"""Batch votes (issue 12): one comment, many escalations, each vote its own transaction
through approval_decide, so one refusal (already decided, comment required, ...) never blocks
the others. Used by the approver API and the web inbox."""

import logging

from approvals.services import approval_decide
from governance.errors import AirlockError

logger = logging.getLogger("airlock.approvals")

MAX_BATCH = 100


def batch_vote(*, ids, user, choice: str, comment: str, via: str) -> list[dict]:
    """One vote per id through approval_decide; a refusal is that id's result, not the batch's."""
    results = []
    for request_id in dict.fromkeys(ids):
        try:
            outcome = approval_decide(request_id=request_id, user=user, choice=choice, comment=comment, via=via)
        except AirlockError as exc:
            results.append({"id": str(request_id), "ok": False, "error": {"code": exc.code, "message": exc.message}})
        except Exception as exc:  # one broken vote never blocks the others; it is not recorded
            logger.exception("batch vote on %s failed", request_id)
            results.append({"id": str(request_id), "ok": False,
                            "error": {"code": "governance_error", "message": f"not recorded: {type(exc).__name__}"}})
        else:
            results.append({"id": str(request_id), "ok": True, "status": outcome.status})
    return results
