"""insert(): one INSERT for a new model instance, without the ORM's per-call query building.

For the rows every decision writes (the request, its audit event). Each value goes through
its field's pre_save() and get_db_prep_save(), as Model.save() does, so the stored row is
the same, and pre_save/post_save are sent as save() sends them: the statement is the same
whether or not anything listens. save() is used only where the database cannot return
generated ids.
"""

from functools import cache

from django.db import connection
from django.db.models import Model, signals


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


def insert_parts(instance: Model) -> tuple[str, list]:
    """For a statement that inserts `instance` inside a larger one (audit.py's one-statement
    append): its column list and prepared values, after sending pre_save. Call inserted()
    once the row is in."""
    model = type(instance)
    signals.pre_save.send(sender=model, instance=instance, raw=False, using=connection.alias, update_fields=None)
    fields, _sql, columns = _statement(model)
    return columns, [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]


def inserted(instance: Model, pk=None) -> None:
    """Mark `instance` saved (with the id the database returned) and send post_save."""
    if pk is not None:
        setattr(instance, type(instance)._meta.pk.attname, pk)
    instance._state.adding = False
    instance._state.db = connection.alias
    signals.post_save.send(
        sender=type(instance), instance=instance, created=True, raw=False, using=connection.alias, update_fields=None
    )


def insert(instance: Model) -> Model:
    """INSERT `instance` (not yet saved) and mark it saved; returns it."""
    model = type(instance)
    if not connection.features.can_return_columns_from_insert:
        instance.save(force_insert=True)
        return instance
    signals.pre_save.send(sender=model, instance=instance, raw=False, using=connection.alias, update_fields=None)
    fields, sql, _columns = _statement(model)
    params = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if model._meta.pk.db_returning:
            setattr(instance, model._meta.pk.attname, cursor.fetchone()[0])
    instance._state.adding = False
    instance._state.db = connection.alias
    signals.post_save.send(
        sender=model, instance=instance, created=True, raw=False, using=connection.alias, update_fields=None
    )
    return instance
