from django.core.management.base import BaseCommand, CommandError

from governance.audit_checkpoints import CheckpointError, audit_checkpoint


class Command(BaseCommand):
    help = (
        "Append every audit chain head that moved since its last checkpoint to "
        "AUDIT_CHECKPOINT_DIR (HMAC'd JSON Lines outside the database; audit_verify checks them)."
    )

    def handle(self, **options):
        try:
            result = audit_checkpoint()
        except (CheckpointError, OSError) as exc:
            raise CommandError(f"audit checkpoint not written: {exc}") from exc
        self.stdout.write(f"checkpointed {result.written} of {result.chains} chain heads to {result.path}")
