import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils.dateparse import parse_datetime

from governance.audit_export import AuditFollower, audit_event_dict, audit_events_jsonl
from governance.canonical import canonical_json
from governance.models import AuditEvent


class Command(BaseCommand):
    help = (
        "Write audit events as JSON Lines to stdout, oldest first. With --follow, keep writing "
        "new events as they are recorded (for a SIEM shipper); each line's \"id\" is the cursor: "
        "resume with --after-id <last id>. SIGTERM or SIGINT stops it cleanly (exit 0)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="ISO 8601 time, e.g. 2026-11-21T00:00:00Z")
        parser.add_argument("--after-id", type=int, default=None,
                            help="only events with a larger id (the \"id\" of the last line you have)")
        parser.add_argument("--follow", action="store_true", help="keep running and write new events")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls (--follow)")
        parser.add_argument("--gap-wait", type=float, default=5.0,
                            help="seconds to wait for a missing id to commit before passing it (--follow)")

    def handle(self, since, after_id, follow, interval, gap_wait, **options):
        start = None
        if since:
            start = parse_datetime(since)
            if start is None:
                raise CommandError(f"--since: not an ISO 8601 time: {since!r}")
        if after_id is not None and after_id < 0:
            raise CommandError("--after-id must be 0 or more")
        if not 0.05 <= interval <= 3600:
            raise CommandError("--interval must be between 0.05 and 3600 seconds")
        if not follow:
            rows = AuditEvent.objects.all() if after_id is None else AuditEvent.objects.filter(id__gt=after_id)
            for line in audit_events_jsonl(since=start, queryset=rows):
                self.stdout.write(line)
            return
        self.follow(after_id=after_id, since=start, interval=interval, gap_wait=gap_wait)

    def follow(self, *, after_id, since, interval, gap_wait) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        if after_id is None:
            # From --since (or the beginning): start just before the first event at that time.
            first = AuditEvent.objects.all()
            if since is not None:
                first = first.filter(created_at__gte=since)
            first_id = first.order_by("id").values_list("id", flat=True).first()
            after_id = (first_id - 1) if first_id else (
                AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0)
        follower = AuditFollower(after_id=after_id, gap_wait=gap_wait)
        try:
            while not stop.is_set():
                for event in follower.poll():
                    self.stdout.write(canonical_json(audit_event_dict(event)))
                self.stdout.flush()
                connection.close()  # hold no connection (or pooled slot) between polls
                stop.wait(interval)
        except BrokenPipeError:
            pass  # the reader went away: nothing left to write to
