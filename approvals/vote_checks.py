"""Checks a vote must pass before it is recorded, beyond eligibility and state (issue 12):
the envelope's approver rules (a comment at high risk; channels refused at the highest risk)
and approve-with-edits (the edited params must still fit the capability; every approval of
one escalation approves the same params). Called by services._vote under the row locks; a
refusal raises, so the transaction rolls back and nothing is recorded.
"""

import logging

from approvals.links import escalation_url
from approvals.models import Escalation, Vote
from approvals.rules import OWN_SURFACES, approver_rules, at_or_above, risk_score
from governance.errors import AirlockError, Conflict, InvalidInput
from governance.models import DecisionRequest
from governance.policy import PolicyRequest
from governance.policy.edits import edit_refusal
from governance.services import envelope_compiled

logger = logging.getLogger("airlock.approvals")


class CommentRequired(InvalidInput):
    """400: at or above the envelope's comment_required_at_risk a vote needs a comment."""

    code = "comment_required"


class WebOnly(AirlockError):
    """403: at or above web_only_at_risk a channel (Slack, email) records no vote; the person
    is sent to the escalation's page, whose link the error carries (`url`)."""

    status, code = 403, "web_only"

    def __init__(self, message: str, *, url: str):
        super().__init__(message)
        self.url = url


class EditDenied(InvalidInput):
    """400: the edited params would not pass the capability (schema or deny_when)."""

    code = "edit_denied"


def vote_rules_check(request: DecisionRequest, *, comment: str, via: str) -> None:
    rules = approver_rules(request)
    score = risk_score(request)
    if via not in OWN_SURFACES and at_or_above(score, rules.web_only_at_risk):
        url = escalation_url(request.pk)
        raise WebOnly(
            f"risk {score:.2f} is at or above {rules.web_only_at_risk}: answer this one on its page, "
            f"not through {via}: {url}",
            url=url,
        )
    if not comment.strip() and at_or_above(score, rules.comment_required_at_risk):
        raise CommentRequired(
            f"risk {score:.2f} is at or above {rules.comment_required_at_risk}: say why in a comment"
        )


def edited_params(request: DecisionRequest, *, choice: str, params) -> dict | None:
    """The edit to record on the vote (None: approve as asked). Raises when it cannot be."""
    if params is None:
        return None
    if choice != Vote.Choice.APPROVE:
        raise InvalidInput("params can only be edited when approving")
    if not isinstance(params, dict):
        raise InvalidInput("params must be a JSON object")
    if params == request.params:
        return None
    if not request.envelope_id:
        raise EditDenied("this request was decided without an envelope; its params cannot be edited")
    try:
        envelope = envelope_compiled(request.envelope)
        refusal = edit_refusal(
            envelope,
            request.capability,
            PolicyRequest(
                action=request.action, resource=request.resource, params=params,
                context=request.context if isinstance(request.context, dict) else {},
                agent=request.agent.name, now=request.created_at, agent_mode=request.agent_mode or "enforce",
            ),
        )
    except Exception:  # cannot evaluate the edit: refuse it, never approve unchecked params
        logger.exception("approve with edits: cannot check params of %s; refusing", request.pk)
        raise EditDenied("the edited params could not be checked against the envelope") from None
    if refusal is not None:
        raise EditDenied(refusal.message)
    return params


def same_params_check(escalation: Escalation, params: dict | None) -> None:
    """Every approval of an escalation approves the same params: an edit after someone approved
    something else (or a plain approval after an edit) is refused, so nobody's approval is
    silently applied to params they did not see."""
    earlier = list(escalation.votes.filter(choice=Vote.Choice.APPROVE).select_related("user"))
    for vote in earlier:
        if vote.params != params:
            what = "edited params" if vote.params is not None else "the params as asked"
            raise Conflict(
                f"{vote.user.get_username()} already approved {what}; approve the same params "
                "(see the escalation's page) or deny",
                code="edit_conflict",
            )


