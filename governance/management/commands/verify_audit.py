from django.core.management.base import BaseCommand, CommandError

from governance.audit import audit_verify
from governance.models import AuditEvent


class Command(BaseCommand):
    help = "(Alias of audit_verify.) Exit 0 if every audit chain is intact; otherwise name the first broken event."

    def handle(self, **options):
        broken = audit_verify()
        if broken is not None:
            raise CommandError(f"audit chain broken at {broken}")
        self.stdout.write(f"audit chain intact ({AuditEvent.objects.count()} events)")
