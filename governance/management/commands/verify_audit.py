from governance.management.commands.audit_verify import Command as AuditVerify


class Command(AuditVerify):
    help = "(Alias of audit_verify.) Exit 0 if every audit chain is intact; otherwise name the first broken event."
