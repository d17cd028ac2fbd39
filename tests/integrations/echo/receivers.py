from approvals.signals import escalation_opened, escalation_resolved, vote_recorded

HEARD: list[tuple[str, str]] = []


def on_opened(sender, request_id, **kwargs) -> None:
    HEARD.append(("opened", str(request_id)))


def on_vote(sender, request_id, **kwargs) -> None:
    HEARD.append(("vote", str(request_id)))


def on_resolved(sender, request_id, status, **kwargs) -> None:
    HEARD.append((status, str(request_id)))


RECEIVERS = [
    (escalation_opened, on_opened, "echo.opened"),
    (vote_recorded, on_vote, "echo.vote"),
    (escalation_resolved, on_resolved, "echo.resolved"),
]
