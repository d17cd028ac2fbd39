from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from approvals.routing import delegation_clear, delegation_set
from governance.errors import InvalidInput


class Command(BaseCommand):
    help = (
        "Hand USERNAME's approvals to OTHER until a time (--to OTHER --until ISO), or end that now "
        "(--clear). OTHER is eligible wherever USERNAME is; votes read 'OTHER for USERNAME'."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--to", dest="delegate", help="the person who answers instead")
        parser.add_argument("--until", help="ISO 8601 time the delegation ends by itself, e.g. 2026-12-24T18:00:00Z")
        parser.add_argument("--clear", action="store_true", help="end USERNAME's delegation now")

    def handle(self, username, delegate, until, clear, **options):
        try:
            if clear:
                if delegate or until:
                    raise CommandError("--clear takes no --to or --until")
                count = delegation_clear(user=username, by="system:cli")
                self.stdout.write(f"cleared {count} delegation(s) of {username}")
                return
            if not delegate or not until:
                raise CommandError("give --to OTHER and --until ISO (or --clear)")
            try:
                moment = datetime.fromisoformat(until)
            except ValueError:
                raise CommandError(f"--until: not an ISO 8601 time: {until!r}") from None
            if timezone.is_naive(moment):
                raise CommandError("--until needs a time zone, e.g. 2026-12-24T18:00:00Z")
            row = delegation_set(user=username, delegate=delegate, until=moment, by="system:cli")
        except InvalidInput as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{row.delegate.get_username()} answers for {username} until {row.until.isoformat()}"
        )
