import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("approvals", "0002_escalation_groups"),
    ]

    operations = [
        migrations.CreateModel(
            name="SlackMessage",
            fields=[
                (
                    "escalation",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="slack_message",
                        serialize=False,
                        to="approvals.escalation",
                    ),
                ),
                ("channel", models.CharField(max_length=64)),
                ("ts", models.CharField(max_length=64)),
                ("posted_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
    ]
