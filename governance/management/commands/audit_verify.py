from django.core.management.base import BaseCommand, CommandError

from governance.audit import audit_verify
from governance.audit_checkpoints import checkpoint_dir, checkpoint_files
from governance.models import AuditEvent


class Command(BaseCommand):
    help = "Exit 0 if every audit chain is intact; otherwise name the first broken event."

    def handle(self, **options):
        broken = audit_verify()
        if broken is not None:
            raise CommandError(f"audit chain broken at {broken}")
        files = checkpoint_files()
        pinned = f"{len(files)} checkpoint file(s)" if files else f"no checkpoints yet in {checkpoint_dir()}"
        self.stdout.write(f"audit chain intact ({AuditEvent.objects.count()} events, {pinned})")
