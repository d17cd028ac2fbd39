from datetime import UTC, datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from governance.anomalies import anomalies_jsonl


class Command(BaseCommand):
    help = "Write anomalies (captured violations) as JSON Lines to stdout, oldest first."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="ISO 8601 time, e.g. 2026-11-21T00:00:00Z")

    def handle(self, since, **options):
        start = None
        if since:
            try:
                start = parse_datetime(since)
                day = parse_date(since) if start is None else None
            except ValueError:
                start = day = None
            if day is not None:
                start = datetime.combine(day, time(0))
            if start is None:
                raise CommandError(f"--since: not an ISO 8601 time: {since!r}")
            if start.tzinfo is None:
                start = start.replace(tzinfo=UTC)  # times without a zone are UTC, like the export
        for line in anomalies_jsonl(since=start):
            self.stdout.write(line)
