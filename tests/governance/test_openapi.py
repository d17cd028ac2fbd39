import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_schema_describes_the_agent_api(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert "post" in paths["/api/v1/decide"]
    assert "get" in paths["/api/v1/requests/{request_id}"]
    assert "post" in paths["/api/v1/verify"]
    assert schema["components"]["securitySchemes"]["agentToken"]["scheme"] == "bearer"


def test_docs_page_is_served_without_a_cdn(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    assert b"cdn" not in response.content.lower()


def test_schema_and_server_agree_that_params_and_context_are_objects_not_null(client, procurement):
    # Issue 9: the schema allowed null here and the server refused it. Both now say object.
    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    fields = schema["components"]["schemas"]["DecideInputRequest"]["properties"]
    for name in ("params", "context"):
        assert fields[name]["type"] == "object"
        assert not fields[name].get("nullable")
        response = procurement.decide({"action": "purchase_order.create", name: None})
        assert response.status_code == 400
        assert name in response.json()["error"]["message"]
    assert fields["idempotency_key"]["nullable"] is True
    assert procurement.decide({"action": "purchase_order.create", "resource": "vendor:staples",
                               "params": {"amount": 1}, "idempotency_key": None}).status_code == 200


@pytest.mark.parametrize("action", ["thing.read\n", " thing.read", "thing.read "])
def test_action_is_taken_exactly_as_the_schema_pattern_says(procurement, action):
    response = procurement.decide({"action": action})
    assert response.status_code == 400
