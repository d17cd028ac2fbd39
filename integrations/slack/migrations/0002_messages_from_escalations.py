"""Copy each escalation's Slack message reference (Escalation.slack_channel/slack_ts, on the
core model until now) into SlackMessage, before approvals drops those columns."""

from django.db import migrations


def forwards(apps, schema_editor):
    Escalation = apps.get_model("approvals", "Escalation")
    SlackMessage = apps.get_model("slack", "SlackMessage")
    posted = Escalation.objects.exclude(slack_ts="").values_list("pk", "slack_channel", "slack_ts")
    batch = [SlackMessage(escalation_id=pk, channel=channel, ts=ts) for pk, channel, ts in posted.iterator()]
    SlackMessage.objects.bulk_create(batch, batch_size=1000)


def backwards(apps, schema_editor):
    Escalation = apps.get_model("approvals", "Escalation")
    SlackMessage = apps.get_model("slack", "SlackMessage")
    for message in SlackMessage.objects.iterator():
        Escalation.objects.filter(pk=message.escalation_id).update(slack_channel=message.channel, slack_ts=message.ts)


class Migration(migrations.Migration):

    dependencies = [
        ("slack", "0001_initial"),
    ]
    # approvals.0004 drops the columns this reads: the copy must run first.
    run_before = [
        ("approvals", "0004_channels_out_of_the_core"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
