"""insert(): one INSERT for a new model instance, without the ORM's per-call query building.

For the rows every decision writes (the request, its audit event). Each value goes through
its field's pre_save() and get_db_prep_save(), as Model.save() does, so the stored row is
the same, and pre_save/post_save are sent as save() sends them: the statement is the same
whether or not anything listens. save() is used only where the database cannot return
generated ids.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import DateField, Field, JSONField, Model, signals

from shared.db import prepared_cursor


@cache
def _statement(model: type[Model]) -> tuple[list, str, str]:
    """The fields a row's INSERT writes, its statement, and their quoted column list."""
    auto_pk = model._meta.pk.db_returning  # an id the database generates
    # Generated columns (e.g. DecisionRequest.risk_score) are computed by the database.
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and auto_pk) and not f.generated]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    if auto_pk:
        sql += f" RETURNING {connection.ops.quote_name(model._meta.pk.column)}"
    return fields, sql, columns


@cache
def select_placeholders(model: type[Model]) -> str:
    """The placeholders of `model`'s INSERT (in _statement's order) for an INSERT ... SELECT:
    each cast to its column's type unless it is text, because a parameter in a SELECT list
    has no column to take its type from when bound on the server (shared/db.py). Text stays
    uncast, so an overlong value is refused by the column, never truncated by a cast."""
    text = {"CharField", "TextField", "SlugField", "EmailField", "URLField"}
    fields, _sql, _columns = _statement(model)
    return ", ".join(
        "%s" if f.get_internal_type() in text else f"%s::{f.db_type(connection)}" for f in fields
    )


@cache
def _preparers(model: type[Model]) -> list:
    """For each value of `model`'s INSERT: a function of the instance giving what
    `field.get_db_prep_save(field.pre_save(instance, True), connection)` gives, as save() does.
    The common cases (a str, an int, a bool, an aware datetime, a UUID, a dict or list for
    JSON, None) skip Django's per-call chain of to_python/get_prep_value/get_db_prep_value;
    anything else takes that chain. tests/governance/test_rows_insert.py checks both agree."""
    fields, _sql, _columns = _statement(model)
    return [_preparer(f) for f in fields]


def _preparer(field: Field):
    attname = field.attname

    def generic(instance):
        return field.get_db_prep_save(field.pre_save(instance, True), connection)

    plain_pre_save = type(field).pre_save is Field.pre_save or (
        isinstance(field, DateField) and not field.auto_now and not field.auto_now_add
    )
    if not plain_pre_save:
        return generic
    target = field.target_field if field.is_relation else field
    kind, ops = target.get_internal_type(), connection.ops
    if kind in ("CharField", "TextField"):
        fast = lambda v: v if type(v) is str else _GENERIC  # noqa: E731
    elif kind in ("IntegerField", "PositiveIntegerField", "BigIntegerField", "SmallIntegerField",
                  "PositiveSmallIntegerField", "PositiveBigIntegerField"):
        fast = lambda v: ops.adapt_integerfield_value(v, kind) if type(v) is int else _GENERIC  # noqa: E731
    elif kind in ("AutoField", "BigAutoField", "SmallAutoField"):  # a foreign key's value, mostly
        fast = lambda v: ops.validate_autopk_value(v) if type(v) is int else _GENERIC  # noqa: E731
    elif kind == "BooleanField":
        fast = lambda v: v if type(v) is bool else _GENERIC  # noqa: E731
    elif kind == "DateTimeField":
        fast = lambda v: (  # noqa: E731
            ops.adapt_datetimefield_value(v) if isinstance(v, datetime) and v.tzinfo is not None else _GENERIC
        )
    elif kind == "UUIDField":
        native = connection.features.has_native_uuid_field
        fast = lambda v: (v if native else v.hex) if type(v) is uuid.UUID else _GENERIC  # noqa: E731
    elif isinstance(target, JSONField):
        encoder = target.encoder
        fast = lambda v: ops.adapt_json_value(v, encoder) if type(v) in (dict, list) else _GENERIC  # noqa: E731
    else:
        return generic

    def prepare(instance):
        value = getattr(instance, attname)
        if value is None:  # every kind above stores None as NULL
            return None
        prepared = fast(value)
        return generic(instance) if prepared is _GENERIC else prepared

    return prepare


_GENERIC = object()  # "take Django's chain for this value"


def insert_parts(instance: Model) -> tuple[str, list]:
    """For a statement that inserts `instance` inside a larger one (audit.py's one-statement
    append): its column list and prepared values, after sending pre_save. Call inserted()
    once the row is in."""
    model = type(instance)
    signals.pre_save.send(sender=model, instance=instance, raw=False, using=DEFAULT_DB_ALIAS, update_fields=None)
    _fields, _sql, columns = _statement(model)
    return columns, [prepare(instance) for prepare in _preparers(model)]


def inserted(instance: Model, pk=None) -> None:
    """Mark `instance` saved (with the id the database returned) and send post_save."""
    if pk is not None:
        setattr(instance, type(instance)._meta.pk.attname, pk)
    instance._state.adding = False
    instance._state.db = DEFAULT_DB_ALIAS
    signals.post_save.send(
        sender=type(instance), instance=instance, created=True, raw=False, using=DEFAULT_DB_ALIAS, update_fields=None
    )


@dataclass
class Rider:
    """Writes that ride on another statement as its CTEs (PostgreSQL; the audit append,
    governance/audit.py): `ctes` ("name AS (...), ...", with `params`); `result`, a scalar SQL
    expression over them read back into `value`; `instance`, a new model instance they insert,
    marked saved (with `value` as its id, if any) once written (rider_written)."""

    ctes: str
    params: list
    result: str | None = None
    value: Any = None
    instance: Model | None = None


def insert_rider(instance: Model, name: str) -> Rider:
    """`instance`'s INSERT as the CTE `name`, returning the id the database generates, if any.
    Sends pre_save now, post_save from rider_written()."""
    model = type(instance)
    columns, values = insert_parts(instance)
    ctes = f"{name} AS (INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(values))})"
    if not model._meta.pk.db_returning:
        return Rider(f"{ctes})", values, instance=instance)
    pk = connection.ops.quote_name(model._meta.pk.column)
    return Rider(f"{ctes} RETURNING {pk})", values, f"(SELECT {pk} FROM {name})", instance=instance)


def rider_written(rider: Rider) -> None:
    if rider.instance is not None:
        inserted(rider.instance, rider.value)


def insert(instance: Model) -> Model:
    """INSERT `instance` (not yet saved) and mark it saved; returns it."""
    model = type(instance)
    if not connection.features.can_return_columns_from_insert:
        instance.save(force_insert=True)
        return instance
    _columns, params = insert_parts(instance)  # sends pre_save
    sql = _statement(model)[1]
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        pk = cursor.fetchone()[0] if model._meta.pk.db_returning else None
    inserted(instance, pk)
    return instance


# --- an Agent from plain SQL (the agent lock, the token lookup) -------------------------------
@cache
def agent_columns(alias: str) -> str:
    """The agent's columns, qualified by `alias`, in the order agent_from_row() reads them."""
    from governance.models import Agent

    return ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in Agent._meta.concrete_fields)


def agent_from_row(row) -> Model:
    """An Agent from the first len(concrete fields) values of `row` (agent_columns' order),
    each through the converters the ORM would apply (SQLite returns datetimes as text)."""
    from governance.models import Agent

    fields = Agent._meta.concrete_fields
    values = list(row[: len(fields)])
    for i, col, converters in _agent_converters():
        for converter in converters:
            values[i] = converter(values[i], col, connection)
    return Agent.from_db(DEFAULT_DB_ALIAS, [f.attname for f in fields], values)


@cache
def _agent_converters() -> list:
    """[(column index, Col, converters)] for the agent's columns that have any, built once per
    process like the statements that read them."""
    from governance.models import Agent

    found = []
    for i, field in enumerate(Agent._meta.concrete_fields):
        col = field.cached_col
        converters = [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]
        if converters:
            found.append((i, col, converters))
    return found
