from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from governance.services import agent_create


class Command(BaseCommand):
    help = "Register an agent. Prints its token as the last line (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--callback-url", default="")
        parser.add_argument("--description", default="")

    def handle(self, name, callback_url, description, **options):
        try:
            agent, token = agent_create(name=name, callback_url=callback_url, description=description)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        self.stderr.write(f"created agent {agent.name} (token shown once; store it now)")
        if callback_url:
            self.stdout.write(f"callback_secret={agent.callback_secret}")
        self.stdout.write(token)
