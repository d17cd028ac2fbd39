
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from governance.audit_export import audit_events_jsonl


class Command(BaseCommand):
    help = "Write audit events as JSON Lines to stdout, oldest first."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="ISO 8601 time, e.g. 2026-11-21T00:00:00Z")

    def handle(self, since, **options):
        start = None
        if since:
            start = parse_datetime(since)
            if start is None:
                raise CommandError(f"--since: not an ISO 8601 time: {since!r}")
        for line in audit_events_jsonl(since=start):
            self.stdout.write(line)
