"""Cumulative budgets per currency (issue 12; docs/inbox.md, docs/performance.md).

Replaces the trigger's apply function of 0009_state_tallies so that, besides the `<param>`
total of every numeric param, it keeps a `<param>@<currency group>` total: the group is
params.currency when it is three uppercase letters, '' without a currency (absent or null)
and '?' for anything else (governance.policy.state.currency_group). Only params an envelope
can name (letters, digits, underscore; at most 190 characters, so the key fits) are summed,
so a stored param called `amount@USD` cannot pass for the USD total of `amount`. Then
rebuilds the tallies from the rows in one set-based statement, as 0009 does. The SQL is
frozen here: later changes go into a new migration.
"""

from django.db import migrations

# What currency_group() says, in SQL, over a params object `p`.
_GROUP = (
    "CASE WHEN {p} -> 'currency' IS NULL OR jsonb_typeof({p} -> 'currency') = 'null' THEN '' "
    "WHEN jsonb_typeof({p} -> 'currency') = 'string' "
    "AND ({p} ->> 'currency') ~ '^[ABCDEFGHIJKLMNOPQRSTUVWXYZ]{{3}}$' THEN {p} ->> 'currency' "
    "ELSE '?' END"
)
_NAME = "e.key ~ '^[0-9A-Za-z_]{1,190}$'"
_NUMBER = "jsonb_typeof(e.value) = 'number' AND (e.value #>> '{}')::numeric > 0"
_AMOUNT = "GREATEST(LEAST((e.value #>> '{}')::numeric, 1e300), 0)"

APPLY = rf"""
CREATE OR REPLACE FUNCTION airlock_state_apply(r governance_decisionrequest, sign integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  p jsonb := CASE WHEN jsonb_typeof(r.params) = 'object' THEN r.params ELSE '{{}}'::jsonb END;
  at numeric := extract(epoch FROM r.created_at);
  cur text;
BEGIN
  IF r.status IN ('allowed', 'approved', 'pending') THEN
    cur := {_GROUP.format(p="p")};
    INSERT INTO governance_statetally AS t (agent_id, param, level, bucket, action, n, total)
    SELECT r.agent_id, q.param, l.level, (floor(at / l.level) * l.level)::bigint, r.action, sign * q.n, sign * q.amount
    FROM (VALUES (3600), (60), (1)) AS l(level),
         (SELECT ''::text AS param, 1 AS n, 0::numeric AS amount
          UNION ALL
          SELECT x.param, 0, x.amount FROM jsonb_each(p) AS e,
            LATERAL (VALUES (e.key, {_AMOUNT}), (e.key || '@' || cur, {_AMOUNT})) AS x(param, amount)
          WHERE {_NUMBER} AND {_NAME}) AS q
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
"""

# The tallies as the trigger above keeps them, for every row at once (the seen keys do not
# change). Also the reference of tests/governance/test_state_tallies.py.
REBUILD = rf"""
DELETE FROM governance_statetally;
INSERT INTO governance_statetally (agent_id, param, level, bucket, action, n, total)
SELECT r.agent_id, q.param, l.level, (floor(extract(epoch FROM r.created_at) / l.level) * l.level)::bigint,
       r.action, SUM(q.n), SUM(q.amount)
FROM governance_decisionrequest r
CROSS JOIN (VALUES (3600), (60), (1)) AS l(level)
CROSS JOIN LATERAL (
  SELECT CASE WHEN jsonb_typeof(r.params) = 'object' THEN r.params ELSE '{{}}'::jsonb END AS p
) AS o
CROSS JOIN LATERAL (
  SELECT ''::text AS param, 1 AS n, 0::numeric AS amount
  UNION ALL
  SELECT x.param, 0, x.amount FROM jsonb_each(o.p) AS e,
    LATERAL (VALUES (e.key, {_AMOUNT}), (e.key || '@' || ({_GROUP.format(p="o.p")}), {_AMOUNT})) AS x(param, amount)
  WHERE {_NUMBER} AND {_NAME}
) AS q
WHERE r.status IN ('allowed', 'approved', 'pending')
GROUP BY 1, 2, 3, 4, 5;
"""

# 0009's function and tallies, to migrate back.
OLD_APPLY = r"""
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
"""

OLD_REBUILD = r"""
DELETE FROM governance_statetally;
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
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPLY)
        schema_editor.execute(REBUILD)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OLD_APPLY)
        schema_editor.execute(OLD_REBUILD)


class Migration(migrations.Migration):
    dependencies = [("governance", "0009_state_tallies")]

    operations = [migrations.RunPython(install, uninstall)]
