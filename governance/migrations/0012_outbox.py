from django.db import migrations, models

# PostgreSQL: one NOTIFY per inserting statement, which PostgreSQL delivers at commit (and not
# at all on rollback), so the relay wakes as soon as an event is committed, with no extra
# statement in the request.
NOTIFY_SQL = """
CREATE FUNCTION governance_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('airlock_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER governance_outbox_notify AFTER INSERT ON governance_outboxevent
    FOR EACH STATEMENT EXECUTE FUNCTION governance_outbox_notify();
"""
DROP_SQL = """
DROP TRIGGER IF EXISTS governance_outbox_notify ON governance_outboxevent;
DROP FUNCTION IF EXISTS governance_outbox_notify();
"""


def notify_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(NOTIFY_SQL)


def drop_notify_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0011_request_risk_score'),
    ]

    operations = [
        migrations.CreateModel(
            name='OutboxEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('event', models.CharField(max_length=64)),
                ('payload', models.TextField(help_text="The signal's kwargs, JSON.")),
                ('created_at', models.DateTimeField()),
                ('available_at', models.DateTimeField(help_text='Due from; a claim pushes it out by the lease.')),
                ('attempts', models.IntegerField(default=0)),
                ('pending', models.TextField(blank=True, default='')),
                ('last_error', models.TextField(blank=True, default='')),
                ('gave_up_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('gave_up_at__isnull', True)), fields=['available_at'], name='outbox_due')],
            },
        ),
        migrations.RunPython(notify_trigger, drop_notify_trigger),
    ]
