from django.core.management.base import BaseCommand, CommandError

from governance.drift import drift_baseline_accept
from governance.errors import AirlockError
from governance.models import Agent


class Command(BaseCommand):
    help = "Make a model version the agent's drift baseline (e.g. a shifted one, after review). See docs/reliability.md."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the agent")
        parser.add_argument("model_version")

    def handle(self, name, model_version, **options):
        agent = Agent.objects.filter(name=name).first()
        if agent is None:
            raise CommandError(f"no agent named {name!r}")
        try:
            drift_baseline_accept(agent=agent, model_version=model_version)
        except AirlockError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{name}: model_version {model_version} is the drift baseline")
