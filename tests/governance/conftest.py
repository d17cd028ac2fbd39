"""Named people for the governance tests: an admin, alice (an approver in finance, not staff)."""

import pytest
from django.contrib.auth.models import Group, User


@pytest.fixture
def admin_user(db) -> User:
    return User.objects.create_user("admin", password="pw-admin-1", is_staff=True, is_superuser=True)


@pytest.fixture
def alice(db) -> User:
    user = User.objects.create_user("alice", password="pw-alice-1")
    user.groups.add(Group.objects.get_or_create(name="finance")[0])
    return user
