"""The benchmark's baseline endpoint exists only in bench's own URLconf (bench/settings.py)."""

import pytest
from django.test import override_settings

from governance.models import AuditEvent, DecisionRequest
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def baseline_enabled():
    with override_settings(ROOT_URLCONF="bench.urls"):
        yield


def test_it_is_not_mounted_by_default(client, procurement):
    response = client.post("/bench/baseline", {}, content_type="application/json", **bearer(procurement.token))
    assert response.status_code == 404
    assert not DecisionRequest.objects.exists()


def test_it_authenticates_and_inserts_one_row(baseline_enabled, client, procurement):
    body = {"action": "purchase_order.create", "params": {"amount": 5}}
    response = client.post("/bench/baseline", body, content_type="application/json", **bearer(procurement.token))
    assert response.status_code == 200
    row = DecisionRequest.objects.get()
    assert str(row.id) == response.json()["id"]
    assert (row.agent, row.action, row.params) == (procurement.agent, "bench.baseline", {"amount": 5})
    # The bare baseline: no policy, no audit event — what decide is measured against.
    assert not AuditEvent.objects.filter(request_id=row.id).exists()


def test_it_refuses_an_unknown_token(baseline_enabled, client, procurement):
    response = client.post("/bench/baseline", {}, content_type="application/json", **bearer(procurement.token + "x"))
    assert response.status_code == 401
    assert not DecisionRequest.objects.exists()
