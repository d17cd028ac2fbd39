"""Bounded-cost state for decide (governance/state_tables.py, docs/performance.md).

Creates StateTally and StateSeen everywhere; on PostgreSQL also the trigger that keeps them
equal to the request rows, and fills them from the rows already there. The SQL is frozen
here: later changes go into a new migration.
"""

import django.db.models.deletion
from django.db import migrations, models

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION airlock_seen_key(field text, v jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  -- JSON equality as params @> {name: value} tests it: 1 and 1.0 are one value, true and 1 two.
  SELECT sha256(convert_to(
    length(field)::text || ':' || field || CASE jsonb_typeof(v)
      WHEN 'number' THEN 'n:' || trim_scale((v #>> '{}')::numeric)::text
      WHEN 'string' THEN 's:' || (v #>> '{}')
      WHEN 'boolean' THEN 'b:' || (v #>> '{}')
      ELSE 'z' END, 'UTF8'))
$$;

CREATE OR REPLACE FUNCTION airlock_state_apply(r governance_decisionrequest, sign integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  p jsonb := CASE WHEN jsonb_typeof(r.params) = 'object' THEN r.params ELSE '{}'::jsonb END;
  at numeric := extract(epoch FROM r.created_at);
BEGIN
  IF r.status IN ('allowed', 'approved', 'pending') THEN
    INSERT INTO governance_statetally AS t (agent_id, param, level, bucket, action, n, total)
    SELECT r.agent_id, q.param, l.level, (floor(at / l.level) * l.level)::bigint, r.action, sign * q.n, sign * q.amount
    FROM (VALUES (3600), (60), (1)) AS l(level),
         (SELECT ''::text AS param, 1 AS n, 0::numeric AS amount
          UNION ALL
          SELECT e.key, 0, GREATEST(LEAST((e.value #>> '{}')::numeric, 1e300), 0)
          FROM jsonb_each(p) AS e
          WHERE jsonb_typeof(e.value) = 'number' AND (e.value #>> '{}')::numeric > 0) AS q
    ON CONFLICT (agent_id, param, level, bucket, action)
    DO UPDATE SET n = t.n + EXCLUDED.n, total = t.total + EXCLUDED.total;
  END IF;
  IF r.status IN ('allowed', 'approved') THEN
    INSERT INTO governance_stateseen AS s (agent_id, key, n)
    SELECT r.agent_id, k.key, sign FROM (
      SELECT airlock_seen_key('resource', to_jsonb(r.resource)) AS key WHERE r.resource <> ''
      UNION
      SELECT airlock_seen_key('params.' || e.key, e.value) FROM jsonb_each(p) AS e
      WHERE jsonb_typeof(e.value) IN ('string', 'number', 'boolean', 'null')
    ) AS k
    ON CONFLICT (agent_id, key) DO UPDATE SET n = s.n + EXCLUDED.n;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION airlock_state_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM airlock_state_apply(OLD, -1);
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    PERFORM airlock_state_apply(NEW, 1);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER airlock_state_rows AFTER INSERT OR DELETE ON governance_decisionrequest
FOR EACH ROW EXECUTE FUNCTION airlock_state_trigger();

CREATE TRIGGER airlock_state_changes AFTER UPDATE ON governance_decisionrequest
FOR EACH ROW WHEN (
  OLD.status IS DISTINCT FROM NEW.status OR OLD.created_at IS DISTINCT FROM NEW.created_at
  OR OLD.action IS DISTINCT FROM NEW.action OR OLD.params IS DISTINCT FROM NEW.params
  OR OLD.resource IS DISTINCT FROM NEW.resource OR OLD.agent_id IS DISTINCT FROM NEW.agent_id
) EXECUTE FUNCTION airlock_state_trigger();
"""

# The same as the trigger, for every row at once (also bench/decide_growth.py's reseed).
REBUILD = r"""
DELETE FROM governance_statetally;
DELETE FROM governance_stateseen;
INSERT INTO governance_statetally (agent_id, param, level, bucket, action, n, total)
SELECT r.agent_id, q.param, l.level, (floor(extract(epoch FROM r.created_at) / l.level) * l.level)::bigint,
       r.action, SUM(q.n), SUM(q.amount)
FROM governance_decisionrequest r
CROSS JOIN (VALUES (3600), (60), (1)) AS l(level)
CROSS JOIN LATERAL (
  SELECT ''::text AS param, 1 AS n, 0::numeric AS amount
  UNION ALL
  SELECT e.key, 0, GREATEST(LEAST((e.value #>> '{}')::numeric, 1e300), 0)
  FROM jsonb_each(CASE WHEN jsonb_typeof(r.params) = 'object' THEN r.params ELSE '{}'::jsonb END) AS e
  WHERE jsonb_typeof(e.value) = 'number' AND (e.value #>> '{}')::numeric > 0
) AS q
WHERE r.status IN ('allowed', 'approved', 'pending')
GROUP BY 1, 2, 3, 4, 5;
INSERT INTO governance_stateseen (agent_id, key, n)
SELECT k.agent_id, k.key, COUNT(*) FROM (
  SELECT r.id, r.agent_id, airlock_seen_key('resource', to_jsonb(r.resource)) AS key
  FROM governance_decisionrequest r WHERE r.status IN ('allowed', 'approved') AND r.resource <> ''
  UNION
  SELECT r.id, r.agent_id, airlock_seen_key('params.' || e.key, e.value)
  FROM governance_decisionrequest r,
       jsonb_each(CASE WHEN jsonb_typeof(r.params) = 'object' THEN r.params ELSE '{}'::jsonb END) AS e
  WHERE r.status IN ('allowed', 'approved') AND jsonb_typeof(e.value) IN ('string', 'number', 'boolean', 'null')
) AS k GROUP BY 1, 2;
"""

DROP = """
DROP TRIGGER IF EXISTS airlock_state_changes ON governance_decisionrequest;
DROP TRIGGER IF EXISTS airlock_state_rows ON governance_decisionrequest;
DROP FUNCTION IF EXISTS airlock_state_trigger();
DROP FUNCTION IF EXISTS airlock_state_apply(governance_decisionrequest, integer);
DROP FUNCTION IF EXISTS airlock_seen_key(text, jsonb);
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTIONS)
        schema_editor.execute(REBUILD)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("governance", "0008_authoring_suggestions")]

    operations = [
        migrations.CreateModel(
            name="StateTally",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("param", models.CharField(blank=True, max_length=200)),
                ("level", models.IntegerField()),
                ("bucket", models.BigIntegerField(help_text="Start of the bucket, seconds since the epoch.")),
                ("action", models.CharField(max_length=200)),
                ("n", models.BigIntegerField(default=0)),
                ("total", models.DecimalField(decimal_places=500, default=0, max_digits=1000)),
                ("agent", models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING,
                                            related_name="+", to="governance.agent")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("agent", "param", "level", "bucket", "action"),
                                                        name="state_tally_key", include=("n", "total"))],
            },
        ),
        migrations.CreateModel(
            name="StateSeen",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.BinaryField(max_length=32)),
                ("n", models.BigIntegerField(default=0)),
                ("agent", models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING,
                                            related_name="+", to="governance.agent")),
            ],
            options={"constraints": [models.UniqueConstraint(fields=("agent", "key"), name="state_seen_key")]},
        ),
        migrations.RunPython(install, uninstall),
    ]
