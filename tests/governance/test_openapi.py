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
