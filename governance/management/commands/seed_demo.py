"""Create the demo admin, approver and agent once; print their credentials that one time."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from governance.audit import audit_record
from governance.models import Agent
from governance.services import agent_create, envelope_apply

DEMO_ENVELOPE = Path(settings.BASE_DIR) / "examples" / "envelopes" / "procurement-bot.yaml"


class Command(BaseCommand):
    help = "Seed a demo admin, a demo approver and the procurement-bot agent (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000")

    @transaction.atomic
    def handle(self, port, **options):
        User = get_user_model()
        base = f"http://127.0.0.1:{port}"
        lines = []
        finance = Group.objects.get_or_create(name="finance")[0]
        # The agent first: its lock comes before the system chain head (governance/locks.py).
        token = None
        if not Agent.objects.filter(name="procurement-bot").exists():
            _agent, token = agent_create(name="procurement-bot", description="Demo agent")
            envelope_apply(source=DEMO_ENVELOPE.read_text(), via="seed", comment="demo envelope")
        for username, staff in (("admin", True), ("approver", False)):
            if User.objects.filter(username=username).exists():
                continue
            password = secrets.token_urlsafe(12)
            user = User.objects.create_user(username=username, password=password, is_staff=staff, is_superuser=staff)
            user.groups.add(finance)
            audit_record(kind="approver.created", actor="system:seed", payload={"username": username, "groups": ["finance"], "staff": staff})
            lines.append(f"  {'admin (staff)' if staff else 'approver (finance)':<20} {username} / {password}")
        if not lines and token is None:
            self.stdout.write(
                "Demo data already exists; credentials were printed on the first run.\n"
                "  New password: .venv/bin/python manage.py changepassword admin\n"
                "  New agent token: .venv/bin/python manage.py agent_token_rotate procurement-bot"
            )
            return
        self.stdout.write("=" * 72)
        self.stdout.write("Airlock demo credentials (shown once, store them now):")
        self.stdout.write(f"  web queue            {base}/   (log in at {base}/accounts/login/)")
        for line in lines:
            self.stdout.write(line)
        if token:
            self.stdout.write(f"  agent procurement-bot token: {token}")
            self.stdout.write("\nTry it (a $47,000 order from an unknown vendor escalates to a human):")
            self.stdout.write(
                f"  curl -s {base}/api/v1/decide -H 'Authorization: Bearer {token}' \\\n"
                "    -H 'Content-Type: application/json' \\\n"
                "    -d '{\"action\": \"purchase_order.create\", \"resource\": \"vendor:acme-furniture\", "
                "\"params\": {\"amount\": 47000, \"currency\": \"USD\"}, "
                "\"context\": {\"reasoning\": \"office furniture\", \"confidence\": 0.91, \"input_source\": \"user\"}}'"
            )
        self.stdout.write("=" * 72)
