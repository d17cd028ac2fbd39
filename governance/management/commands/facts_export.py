from django.core.management.base import BaseCommand, CommandError

from governance.facts import facts_current, facts_to_yaml
from governance.knowledge_models import FactSet


class Command(BaseCommand):
    help = "Print the facts in force (or --facts-version N) as YAML that facts_apply accepts."

    def add_arguments(self, parser):
        parser.add_argument("--facts-version", type=int, dest="facts_version", help="export this version instead")

    def handle(self, facts_version, **options):
        factset = FactSet.objects.filter(version=facts_version).first() if facts_version else facts_current()
        if factset is None and facts_version:
            raise CommandError(f"no facts version {facts_version}")
        document = factset.document if factset is not None else {"facts": []}
        self.stdout.write(facts_to_yaml(document).rstrip("\n"))
