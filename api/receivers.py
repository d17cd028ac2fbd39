"""The API's reaction to escalation events: wake the agents long-polling for the answer."""

from api.longpoll import resolution_publish
from approvals.signals import escalation_resolved
from governance.signals import Receivers


def wake_waiters_on_resolve(sender, request_id: str, status: str, **kwargs) -> None:
    resolution_publish(request_id)


RECEIVERS: Receivers = [
    (escalation_resolved, wake_waiters_on_resolve, "api.wake_waiters"),
]
