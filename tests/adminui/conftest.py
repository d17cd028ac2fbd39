"""Actors of the admin UI tests: an admin (staff), alice an approver, charlie with no role."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from governance.models import AuditEvent

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Real hashing costs ~0.3 s a user; these tests are about pages, not password storage.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_envelope_cache():
    # governance.services caches compiled envelopes by primary key. SQLite reuses keys
    # after each test's rollback, so a stale entry could answer for another agent.
    from governance import services

    services._compiled_cache.clear()
    yield
    services._compiled_cache.clear()


@pytest.fixture
def admin_user(db) -> User:
    return User.objects.create_user("admin", password=PASSWORD, is_staff=True)


@pytest.fixture
def alice(db) -> User:
    """An eligible approver (finance), not an admin."""
    user = User.objects.create_user("alice", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name="finance")[0])
    return user


@pytest.fixture
def charlie(db) -> User:
    return User.objects.create_user("charlie", password=PASSWORD)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user) -> Client:
    return client_for(admin_user)


def htmx(**extra) -> dict:
    """Headers htmx sends with its requests."""
    return {"HTTP_HX_REQUEST": "true", **extra}


def last_event(kind: str) -> AuditEvent:
    event = AuditEvent.objects.filter(kind=kind).order_by("-id").first()
    assert event is not None, f"no audit event {kind}"
    return event
