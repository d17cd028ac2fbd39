from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from approvals.tokens import personal_token_create, personal_token_revoke


class Command(BaseCommand):
    help = "Issue a personal API token for the approver API; prints it as the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--label", default="", help="what the token is for")
        parser.add_argument("--revoke", action="store_true", help="revoke this person's tokens instead")

    def handle(self, username, label, revoke, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {username!r}; create them with approver_add") from None
        if not user.is_active:
            raise CommandError(f"{username} is not active")
        if revoke:
            self.stdout.write(f"revoked {personal_token_revoke(user=user)} token(s) of {username}")
            return
        token = personal_token_create(user=user, label=label)
        self.stdout.write(f"personal API token for {username} (shown once; use 'Authorization: Bearer <token>'):")
        self.stdout.write(token)
