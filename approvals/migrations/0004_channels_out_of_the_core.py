"""Channels leave the core models: Slack's message reference moved to integrations.slack
(SlackMessage, whose data migration copies the rows first: it declares run_before this one),
and a Delivery's kind is any registered outbox (callback, or a channel's name), not a fixed
list naming Slack."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("approvals", "0003_delivery"),
    ]

    operations = [
        migrations.RemoveField(model_name="escalation", name="slack_channel"),
        migrations.RemoveField(model_name="escalation", name="slack_ts"),
        migrations.AlterField(model_name="delivery", name="kind", field=models.CharField(max_length=16)),
    ]
