"""verify_audit: the old name of audit_verify, kept for scripts that use it."""

from governance.management.commands.audit_verify import Command as AuditVerify


class Command(AuditVerify):
    help = f"Alias of audit_verify. {AuditVerify.help}"
