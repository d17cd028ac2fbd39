"""What governance needs from the layer above it, without naming it.

decide() records an 'escalate' answer and must open the escalation in the same transaction.
Escalations belong to approvals, which registers its opener here at start-up
(ApprovalsConfig.ready): governance never imports approvals. With no opener registered an
escalation cannot be opened, so decide fails closed (Unavailable: 503, treat as deny).
"""

import logging
from collections.abc import Callable

from governance.errors import Unavailable

logger = logging.getLogger("airlock.decide")

_escalation_opener: Callable | None = None


def escalation_opener_register(opener: Callable) -> None:
    """opener(*, request, spec) opens the escalation of `request` inside the caller's transaction."""
    global _escalation_opener
    _escalation_opener = opener


def escalation_open(*, request, spec) -> None:
    """Open the escalation of a request decide() just recorded (same transaction)."""
    if _escalation_opener is None:
        logger.error("no escalation opener registered; denying request %s", request.pk)
        raise Unavailable("escalations cannot be opened (approvals not loaded); treat as deny")
    _escalation_opener(request=request, spec=spec)
