import json

from django.core.management.base import BaseCommand, CommandError

from governance.errors import NotFound
from governance.matrix_text import matrix_text
from governance.models import Agent
from governance.shadow import shadow_matrix


class Command(BaseCommand):
    help = (
        "Print the transition matrix (active answer → shadow answer, counts) of an agent's "
        "shadow envelope since it was applied. See docs/reliability.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the agent")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, name, format="text", **options):
        agent = Agent.objects.filter(name=name).first()
        if agent is None:
            raise CommandError(f"no agent named {name!r}")
        try:
            report = shadow_matrix(agent=agent)
        except NotFound as exc:
            raise CommandError(exc.message) from None
        if format == "json":
            self.stdout.write(json.dumps(report, sort_keys=True))
            return
        self.stdout.write(
            f"{agent.name}: shadow v{report['shadow_version']} beside active v{report['active_version']} "
            f"since {agent.shadow_since:%Y-%m-%d %H:%M:%S} UTC"
        )
        self.stdout.write(matrix_text(report["matrix"], rows_label="active", columns_label="shadow"))
        self.stdout.write(f"{report['total']} requests, {report['changed']} answered differently by the shadow")
