from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.errors import AirlockError
from governance.services import envelope_apply
from governance.shadow import shadow_apply


class Command(BaseCommand):
    help = "Validate an envelope YAML file, store it as a new version and activate it."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--comment", default="")
        parser.add_argument(
            "--shadow", action="store_true",
            help="store the version as the agent's shadow: evaluated beside the active one, never answers",
        )

    def handle(self, file, comment, shadow=False, **options):
        try:
            source = Path(file).read_text() if file != "-" else self.stdin.read()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        try:
            envelope = (shadow_apply if shadow else envelope_apply)(source=source, comment=comment)
        except AirlockError as exc:
            raise CommandError(f"{file}: {exc.message}") from None
        if shadow:
            self.stdout.write(f"applied {envelope.agent.name} envelope v{envelope.version} (shadow)")
            return
        self.stdout.write(f"applied {envelope.agent.name} envelope v{envelope.version} (active)")
