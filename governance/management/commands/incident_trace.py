from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from governance.errors import AirlockError
from governance.incidents import trace, trace_jsonl, trace_markdown


def _when(value: str, name: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"{name}: not an ISO 8601 time: {value!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Every request by any agent on resources matching GLOB, oldest first (JSON lines or Markdown)."

    def add_arguments(self, parser):
        parser.add_argument("--resource", required=True, help="resource glob, e.g. db:replica-7 or 'db:*'")
        parser.add_argument("--since", help="ISO 8601 time (UTC if no offset)")
        parser.add_argument("--until", help="ISO 8601 time (UTC if no offset)")
        parser.add_argument("--format", choices=["jsonl", "markdown"], default="jsonl")

    def handle(self, resource, since, until, format, **options):
        start = _when(since, "--since") if since else None
        end = _when(until, "--until") if until else None
        if start and end and start > end:
            raise CommandError("--since is after --until")
        try:
            if format == "markdown":
                lines = trace(resources=[resource], since=start, until=end)
                window = f" from {since or 'the beginning'} to {until or 'now'}"
                self.stdout.write(trace_markdown(list(lines), title=f"Agent actions on {resource}{window}").rstrip("\n"))
                return
            # Written a page at a time: one write per line costs more than the query.
            chunk = []
            for line in trace_jsonl(resources=[resource], since=start, until=end):
                chunk.append(line)
                if len(chunk) >= 1000:
                    self.stdout.write("\n".join(chunk))
                    chunk = []
            if chunk:
                self.stdout.write("\n".join(chunk))
        except AirlockError as exc:
            raise CommandError(exc.message) from None
