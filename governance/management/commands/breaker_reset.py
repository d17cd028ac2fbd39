from django.core.management.base import BaseCommand, CommandError

from governance.breaker import breaker_reset
from governance.errors import AirlockError
from governance.models import Agent


class Command(BaseCommand):
    help = "Reset an agent's tripped circuit breaker: it leaves supervised mode (audited)."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, name, **options):
        agent = Agent.objects.filter(name=name).first()
        if agent is None:
            raise CommandError(f"no agent named {name!r}")
        try:
            breaker_reset(agent=agent, by=None)
        except AirlockError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"breaker of {name} reset; the agent is no longer supervised")
