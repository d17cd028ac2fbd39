from django.core.management.base import BaseCommand

from bench.scale import seed_scale


class Command(BaseCommand):
    help = "Seed pending escalations and hash-chained audit events for scale checks (fast: COPY on PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--escalations", type=int, default=10_000)
        parser.add_argument("--audit-events", type=int, default=1_000_000)
        parser.add_argument("--agents", type=int, default=20)
        parser.add_argument("--prefix", default="scale", help="agent names: PREFIX-01, PREFIX-02, ...")
        parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")

    def handle(self, *, escalations, audit_events, agents, prefix, seed, **options):
        report = seed_scale(
            escalations=escalations, audit_events=audit_events, agents=agents, prefix=prefix, seed=seed,
            progress=lambda message: self.stdout.write(message),
        )
        total = sum(report.seconds.values())
        self.stdout.write(self.style.SUCCESS(
            f"seeded {report.agents} agents, {report.escalations} pending escalations, "
            f"{report.audit_events} audit events in {total:.1f}s"
        ))
