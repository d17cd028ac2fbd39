from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from governance.chaos import ScenarioError, load_scenario, run_scenario, with_envelope
from governance.chaos_report import report
from governance.models import Agent
from governance.policy import EnvelopeError, compile_envelope

BUILT_IN = Path(settings.BASE_DIR) / "examples" / "chaos"


class Command(BaseCommand):
    help = (
        "Evaluate chaos scenarios (YAML) against envelopes without side effects; print a "
        "pass/fail table and the restraint rate; exit 1 when any step fails. See docs/chaos.md."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        run = sub.add_parser("run", help="run scenario files (default: the built-in ones)")
        run.add_argument("files", nargs="*", help=f"scenario files or folders (default {BUILT_IN})")
        run.add_argument("--agent", help="use this registered agent's active envelope from the database")

    def handle(self, verb, files, agent=None, **options):
        paths = self._paths(files or [str(BUILT_IN)])
        override = self._envelope(agent) if agent else None
        try:
            scenarios = [load_scenario(p) for p in paths]
        except ScenarioError as exc:
            raise CommandError(str(exc)) from None
        if override is not None:
            scenarios = [with_envelope(s, agent, override) for s in scenarios]
        results = [run_scenario(s) for s in scenarios]
        self.stdout.write(report(results))
        if not all(r.ok for r in results):
            raise CommandError(
                "chaos run failed: a step missed its required outcome, or a restraint interval is under min_restraint",
                returncode=1,
            )

    def _paths(self, files: list[str]) -> list[Path]:
        paths: list[Path] = []
        for name in files:
            path = Path(name)
            if path.is_dir():
                paths += sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
            elif path.is_file():
                paths.append(path)
            else:
                raise CommandError(f"no such scenario file or folder: {name}")
        if not paths:
            raise CommandError("no scenario files found")
        return paths

    def _envelope(self, name: str):
        # Read-only: the agent and its active envelope, compiled here, never stored or cached.
        found = Agent.objects.filter(name=name).select_related("active_envelope").first()
        if found is None:
            raise CommandError(f"no agent named {name!r}")
        if found.active_envelope is None:
            raise CommandError(f"agent {name!r} has no active envelope")
        envelope = found.active_envelope
        try:
            return compile_envelope(envelope.document, version=envelope.version, default_ttl=settings.AIRLOCK_ESCALATION_TTL)
        except EnvelopeError as exc:
            raise CommandError(f"the active envelope of {name} does not compile: {exc}") from None
