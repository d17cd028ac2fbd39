"""Who did it, as the audit trail writes it: one helper for every service and interface."""

from governance.errors import NotEligible


def audit_actor(user) -> str:
    """'user:<username>' for a person; 'system:cli' for None (a shell on the server)."""
    return f"user:{user.get_username()}" if user is not None else "system:cli"


def admin_actor(by) -> str:
    """The audit actor for an admin action; people who are not staff may not take one."""
    if by is not None and not (by.is_active and by.is_staff):
        raise NotEligible(f"{by.get_username()} is not an admin")
    return audit_actor(by)
