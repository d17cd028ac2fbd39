from django.core.management.base import BaseCommand, CommandError

from governance.models import Agent, Envelope


class Command(BaseCommand):
    help = "Print an agent's active envelope (or --envelope-version N) as YAML."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--envelope-version", type=int, dest="envelope_version", help="export this version instead of the active one")

    def handle(self, name, envelope_version, **options):
        agent = Agent.objects.filter(name=name).select_related("active_envelope").first()
        if agent is None:
            raise CommandError(f"no agent named {name!r}")
        if envelope_version:
            envelope = Envelope.objects.filter(agent=agent, version=envelope_version).first()
        else:
            envelope = agent.active_envelope
        if envelope is None:
            raise CommandError(f"{name} has no {'such' if envelope_version else 'active'} envelope")
        # The source as applied: comments and anchors survive, and it re-applies identically.
        self.stdout.write(envelope.source.rstrip("\n"))
