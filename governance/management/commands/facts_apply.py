from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.errors import AirlockError
from governance.facts import facts_apply


class Command(BaseCommand):
    help = "Validate a facts YAML file, store it as the next facts version and put it in force."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--comment", default="")

    def handle(self, file, comment, **options):
        try:
            source = Path(file).read_text() if file != "-" else self.stdin.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None
        try:
            factset = facts_apply(source=source, comment=comment)
        except AirlockError as exc:
            raise CommandError(f"{file}: {exc.message}") from None
        count = len(factset.document["facts"])
        self.stdout.write(f"applied facts v{factset.version} ({count} entr{'y' if count == 1 else 'ies'}, in force)")
