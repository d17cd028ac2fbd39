import json
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from governance.matrix_text import ANSWERS, matrix_text
from governance.models import Agent
from governance.policy import EnvelopeError, compile_envelope
from governance.policy.durations import parse_duration
from governance.policy.source import SourceError, load_yaml
from governance.replay import replay_run

# deny < escalate < allow: a change to a higher rank is looser.
RANK = {"deny": 0, "escalate": 1, "allow": 2}


class Command(BaseCommand):
    help = (
        "Re-evaluate an agent's recorded requests against a candidate envelope (nothing is "
        "written); print the transition matrix; with --fail-on, exit 1 when answers change. "
        "See docs/reliability.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the candidate envelope (YAML)")
        parser.add_argument("--agent", help="whose requests to replay (default: the envelope's agent)")
        parser.add_argument("--since", default="7d", help="how far back, e.g. 12h, 7d, 30d (default 7d, at most 90d)")
        parser.add_argument("--fail-on", choices=["any", "looser"], dest="fail_on")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, file, agent=None, since="7d", fail_on=None, format="text", **options):
        try:
            document = load_yaml(Path(file).read_text())
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        except SourceError as exc:
            raise CommandError(f"{file}: {exc}") from None
        try:
            compiled = compile_envelope(document, default_ttl=settings.AIRLOCK_ESCALATION_TTL)
        except EnvelopeError as exc:
            raise CommandError(f"{file}: {exc}") from None
        try:
            seconds = parse_duration(since)
        except ValueError as exc:
            raise CommandError(f"--since: {exc}") from None
        if not 0 < seconds <= 90 * 86400:
            raise CommandError("--since: between 1s and 90d")
        name = agent or compiled.agent
        found = Agent.objects.filter(name=name).first()
        if found is None:
            raise CommandError(f"no agent named {name!r}")
        now = timezone.now()
        result = replay_run(agent=found, compiled=compiled, since=now - timedelta(seconds=seconds),
                            now=now, limit=None)
        matrix = {b: {a: result.matrix.get((b, a), 0) for a in ANSWERS} for b in ANSWERS}
        looser = sum(n for (b, a), n in result.matrix.items() if RANK.get(a, 0) > RANK.get(b, 0))
        if format == "json":
            self.stdout.write(json.dumps({"total": result.replayed, "changed": result.changed, "looser": looser,
                                          "matrix": matrix}, sort_keys=True))
        else:
            self.stdout.write(f"replayed {result.replayed} requests of {found.name} since {result.since:%Y-%m-%d %H:%M} UTC "
                              f"against {file}")
            self.stdout.write(matrix_text(matrix, rows_label="recorded", columns_label="candidate"))
            for change in result.changes[:20]:
                reasons = ",".join(r["code"] for r in change.reasons)
                self.stdout.write(f"  {change.at:%Y-%m-%d %H:%M:%S} {change.action} {change.resource}: "
                                  f"{change.before} → {change.after} ({reasons})")
            self.stdout.write(f"{result.changed} of {result.replayed} answers change, {looser} more permissive")
        if fail_on == "any" and result.changed:
            raise CommandError(f"replay failed: {result.changed} answers change (--fail-on any)", returncode=1)
        if fail_on == "looser" and looser:
            raise CommandError(f"replay failed: {looser} answers become more permissive (--fail-on looser)", returncode=1)
