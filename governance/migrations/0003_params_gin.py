"""PostgreSQL only: a GIN index (jsonb_path_ops) on DecisionRequest.params, so novelty on a
param (`escalate_on_novel: [params.vendor]`) finds "never used" by index instead of reading
the agent's whole history. Other databases have no such index type; nothing to do there."""

from django.db import migrations

CREATE = "CREATE INDEX IF NOT EXISTS req_params_gin ON governance_decisionrequest USING gin (params jsonb_path_ops)"
DROP = "DROP INDEX IF EXISTS req_params_gin"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("governance", "0002_breaker_reset_and_agent_time")]

    operations = [migrations.RunPython(create, drop)]
