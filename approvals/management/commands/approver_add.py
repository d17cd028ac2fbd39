from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from approvals.models import ApproverProfile
from governance.audit import audit_record


class Command(BaseCommand):
    help = "Create or update a person and put them in an approver group."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--group", required=True, action="append", help="repeatable")
        parser.add_argument("--password")
        parser.add_argument("--email")
        parser.add_argument("--slack-id", dest="slack_id")
        parser.add_argument("--staff", action="store_true", help="also make them staff (admin UI)")

    @transaction.atomic
    def handle(self, username, group, password, email, slack_id, staff, **options):
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username)
        if email is not None:
            user.email = email
        if password:
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        if staff:
            user.is_staff = True
        user.save()
        for name in group:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
        if slack_id is not None:
            ApproverProfile.objects.update_or_create(user=user, defaults={"slack_user_id": slack_id})
        audit_record(
            kind="approver.created" if created else "approver.updated",
            actor="system:cli",
            payload={
                "username": username, "groups": group, "email": user.email,
                "slack_id": slack_id, "password_set": bool(password), "staff": user.is_staff,
            },
        )
        self.stdout.write(f"{'created' if created else 'updated'} {username} in {', '.join(group)}")
