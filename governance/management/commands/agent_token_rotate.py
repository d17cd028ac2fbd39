from django.core.management.base import BaseCommand, CommandError

from governance.models import Agent
from governance.services import agent_token_rotate


class Command(BaseCommand):
    help = "Issue a new token for an agent and revoke the old one. Prints the new token last."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, name, **options):
        agent = Agent.objects.filter(name=name).first()
        if agent is None:
            raise CommandError(f"no agent named {name!r}")
        token = agent_token_rotate(agent=agent)
        self.stderr.write(f"rotated token of {name}; previous tokens revoked")
        self.stdout.write(token)
