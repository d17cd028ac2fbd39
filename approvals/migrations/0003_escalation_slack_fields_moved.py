"""Slack's message reference moved to integrations.slack (SlackMessage); its data migration
copies the rows first (it declares run_before this one)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("approvals", "0002_escalation_groups"),
    ]

    operations = [
        migrations.RemoveField(model_name="escalation", name="slack_channel"),
        migrations.RemoveField(model_name="escalation", name="slack_ts"),
    ]
