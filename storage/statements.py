"""The hot statements, as SQL text built once per shape: peewee composes SQL anew on every call.

Composing a statement costs peewee a tenth of a millisecond or more of Python (bench/RESULTS.md); a
decision runs about ten of them, so the write paths taken for every incident, step and message
(insert a row, read one by key, update by key) go through here. Values are converted with the
model's own field types, so rows read and written here are the same as peewee's. Only equality
conditions (IN for a tuple or frozenset value, None in it meaning NULL; >=, <= and NOT IN by a
suffix on the name). Only names from the models are spliced into the SQL text (hence the S608
waivers); values are always bound as parameters. storage/deferred_writes.py holds these rows and
updates back to the end of a block.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import peewee

from storage.database import db, is_postgres

M = TypeVar("M", bound=peewee.Model)

_sql_cache: dict[tuple[Any, ...], str] = {}


def _quote(name: str) -> str:
    return f'"{name}"'


def _param() -> str:
    return "%s" if is_postgres() else "?"


def _fields(model: type[peewee.Model]) -> list[peewee.Field]:
    return list(model._meta.sorted_fields)


def _primary_column(model: type[peewee.Model]) -> str:
    primary = model._meta.primary_key
    assert isinstance(primary, peewee.Field), f"{model.__name__} has no single-column primary key"
    return str(primary.column_name)


RANGES = {"__gte": ">=", "__lte": "<="}
EXCLUDED = "__not_in"


def _where(model: type[peewee.Model], where: dict[str, Any], params: list[Any]) -> str:
    """' WHERE ...' for equality (IS NULL for None, IN for a tuple; >= and <= for names ending __gte
    and __lte; NOT IN a tuple for names ending __not_in) on each named field, or '' without
    conditions; extends `params`."""
    param = _param()
    parts = []
    for name, value in where.items():
        operator = "="
        for suffix, symbol in RANGES.items():
            if name.endswith(suffix):
                name, operator = name.removesuffix(suffix), symbol
        if name.endswith(EXCLUDED):
            name, operator = name.removesuffix(EXCLUDED), "NOT IN"
        field = model._meta.fields[name]
        if isinstance(value, frozenset):  # a set of statuses: IN, in a fixed order
            value = tuple(sorted(value))
        if value is None and operator == "=":
            parts.append(f"{_quote(field.column_name)} IS NULL")
        elif isinstance(value, tuple):
            parts.append(_membership(field, value, excluded=operator == "NOT IN", params=params))
        else:
            parts.append(f"{_quote(field.column_name)} {operator} {param}")
            params.append(field.db_value(value))
    return f" WHERE {' AND '.join(parts)}" if parts else ""


def _membership(field: peewee.Field, values: tuple[Any, ...], *, excluded: bool, params: list[Any]) -> str:
    """`column IN (...)` (NOT IN if `excluded`); None among the values stands for NULL, which IN
    never matches, so it is asked for apart (IS NULL, or IS NOT NULL when excluded)."""
    column, known = _quote(field.column_name), [v for v in values if v is not None]
    parts = [f"{column} IS {'NOT ' if excluded else ''}NULL"] if len(known) < len(values) else []
    if known:
        parts.append(f"{column} {'NOT IN' if excluded else 'IN'} ({', '.join(_param() for _ in known)})")
        params.extend(field.db_value(v) for v in known)
    if not parts:  # IN () is not SQL: nothing is in an empty tuple
        return "1 = 1" if excluded else "1 = 0"
    return "(" + (" AND " if excluded else " OR ").join(parts) + ")" if len(parts) > 1 else parts[0]


def _shape(where: dict[str, Any]) -> tuple[Any, ...]:
    many = (tuple, frozenset)
    return tuple((k, (len(v), None in v) if isinstance(v, many) else v is None) for k, v in where.items())


@functools.cache
def _inserted_fields(model: type[peewee.Model]) -> tuple[peewee.Field, ...]:
    """The columns an INSERT names (all but an auto-incremented key), worked out once per model."""
    return tuple(f for f in _fields(model) if not isinstance(f, peewee.AutoField))


def insert_sql(model: type[peewee.Model], rows: int) -> str:
    fields = _inserted_fields(model)
    columns = ", ".join(_quote(f.column_name) for f in fields)
    row = "(" + ", ".join(_param() for _ in fields) + ")"
    return f"INSERT INTO {_quote(model._meta.table_name)} ({columns}) VALUES {', '.join([row] * rows)}"  # noqa: S608


def row_params(model: type[peewee.Model], values: dict[str, Any]) -> list[Any]:
    """The row's values in column order, converted for the database; defaults for fields not given."""
    params = []
    for field in _inserted_fields(model):
        if field.name in values:
            value = values[field.name]
        else:
            value = field.default() if callable(field.default) else field.default
        params.append(field.db_value(value))
    return params


def insert(model: type[peewee.Model], **values: Any) -> int:
    """Insert one row (fields not given take the model's defaults) and return its primary key."""
    key = ("insert", model, is_postgres())
    sql = _sql_cache.get(key)
    if sql is None:
        sql = insert_sql(model, 1)
        primary = model._meta.primary_key
        if is_postgres() and isinstance(primary, peewee.AutoField):
            sql += f" RETURNING {_quote(primary.column_name)}"
        _sql_cache[key] = sql
    cursor = db.execute_sql(sql, row_params(model, values))
    if is_postgres() and isinstance(model._meta.primary_key, peewee.AutoField):
        return int(cursor.fetchone()[0])
    return int(cursor.lastrowid)


def create(model: type[M], **values: Any) -> M:
    """Like peewee's Model.create: a new row (defaults filled in), inserted, returned with its id."""
    instance = model(**values)
    primary = _primary_column(model)
    setattr(instance, primary, insert(model, **instance.__data__))
    return instance


def select_first(model: type[M], *, order_by_id_desc: bool = False, **where: Any) -> M | None:
    """The first row matching every condition (by primary key, or the last with `order_by_id_desc`)."""
    rows = _select(model, where, descending=order_by_id_desc, limit=1)
    return rows[0] if rows else None


def select_all(
    model: type[M],
    *,
    limit: int | None = None,
    offset: int = 0,
    descending: bool = False,
    **where: Any,
) -> list[M]:
    """The rows matching every condition in primary key order (`descending`: newest first), skipping
    `offset` of them, at most `limit`."""
    return _select(model, where, descending=descending, limit=limit, offset=offset)


def first_key_of_each(model: type[peewee.Model], field: str, **where: Any) -> list[tuple[Any, int]]:
    """Each value of `field` among the rows matching every condition, with the smallest primary key
    it has there: an index that starts with the conditions' fields and then `field` answers it
    without reading a row."""
    column = model._meta.fields[field]
    name = _quote(column.column_name)
    rows = _built_once(
        ("first_key_of_each", field),
        model,
        where,
        lambda table, primary, clause: f"SELECT {name}, MIN({primary}) FROM {table}{clause} GROUP BY {name}",  # noqa: S608
    )
    return [(column.python_value(value), int(first)) for value, first in rows]


def column_of(model: type[peewee.Model], field: str, **where: Any) -> dict[Any, Any]:
    """One field of the rows matching every condition, by primary key (nothing else is read)."""
    column = model._meta.fields[field]
    name = _quote(column.column_name)
    rows = _built_once(
        ("column_of", field),
        model,
        where,
        lambda table, primary, clause: f"SELECT {primary}, {name} FROM {table}{clause}",  # noqa: S608
    )
    return {key: column.python_value(value) for key, value in rows}


def count(model: type[peewee.Model], **where: Any) -> int:
    """How many rows match every condition."""
    rows = _built_once(
        ("count",),
        model,
        where,
        lambda table, _, clause: f"SELECT COUNT(*) FROM {table}{clause}",  # noqa: S608
    )
    return int(rows[0][0])


def _built_once(
    kind: tuple[str, ...],
    model: type[peewee.Model],
    where: dict[str, Any],
    text: Callable[[str, str, str], str],
) -> list[tuple[Any, ...]]:
    """The rows of a statement on the model's table whose SQL, `text(table, primary key column,
    where clause)`, is built once per `kind`, model and shape of the conditions."""
    key = (*kind, model, _shape(where), is_postgres())
    params: list[Any] = []
    clause = _where(model, where, params)
    sql = _sql_cache.get(key)
    if sql is None:
        sql = _sql_cache[key] = text(_quote(model._meta.table_name), _quote(_primary_column(model)), clause)
    return list(db.execute_sql(sql, params).fetchall())


def _select(
    model: type[M],
    where: dict[str, Any],
    *,
    descending: bool,
    limit: int | None,
    offset: int = 0,
) -> list[M]:
    key = ("select", model, _shape(where), descending, limit is not None, offset > 0, is_postgres())
    params: list[Any] = []
    clause = _where(model, where, params)
    sql = _sql_cache.get(key)
    if sql is None:
        columns = ", ".join(_quote(f.column_name) for f in _fields(model))
        primary = _quote(_primary_column(model))
        order = f" ORDER BY {primary}" + (" DESC" if descending else "")
        table = _quote(model._meta.table_name)
        sql = f"SELECT {columns} FROM {table}{clause}{order}"  # noqa: S608
        if limit is not None:
            sql += f" LIMIT {_param()}"
        if offset > 0:
            unlimited = "" if limit is not None or is_postgres() else " LIMIT -1"  # SQLite needs one
            sql += f"{unlimited} OFFSET {_param()}"
        _sql_cache[key] = sql
    if limit is not None:
        params.append(limit)
    if offset > 0:
        params.append(offset)
    names, converters = _converters(model)
    rows = db.execute_sql(sql, params).fetchall()
    return [_instance(model, names, converters, values) for values in rows]


# Fields whose values both drivers already return as peewee would convert them (str, int).
AS_READ = (peewee.CharField, peewee.TextField, peewee.AutoField, peewee.IntegerField)


@functools.cache
def _converters(model: type[peewee.Model]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """Field names in column order, and each field's conversion from the driver's value (None
    where the value needs none: calling peewee's for every string and number costs more than the
    query of a small read)."""
    fields = _fields(model)
    names = tuple(f.name for f in fields)
    return names, tuple(None if type(f) in AS_READ else f.python_value for f in fields)


def _instance(
    model: type[M], names: tuple[str, ...], converters: tuple[Any, ...], values: tuple[Any, ...]
) -> M:
    """A model instance as peewee's own reads build it: converted values, nothing dirty."""
    instance = model(__no_default__=1)  # peewee's own way (pinned; tests/test_library_contracts.py)
    instance.__data__ = {
        name: value if convert is None or value is None else convert(value)
        for name, convert, value in zip(names, converters, values, strict=True)
    }
    return instance


def update(model: type[peewee.Model], where: dict[str, Any], **values: Any) -> int:
    """Set the given fields on rows matching every condition in `where`; the number of rows changed."""
    sql, params = update_statement(model, where, values)
    return int(db.execute_sql(sql, params).rowcount)


def update_statement(
    model: type[peewee.Model], where: dict[str, Any], values: dict[str, Any]
) -> tuple[str, list[Any]]:
    key = ("update", model, tuple(values), _shape(where), is_postgres())
    params = [model._meta.fields[name].db_value(value) for name, value in values.items()]
    clause = _where(model, where, params)
    sql = _sql_cache.get(key)
    if sql is None:
        assignments = ", ".join(
            f"{_quote(model._meta.fields[name].column_name)} = {_param()}" for name in values
        )
        sql = f"UPDATE {_quote(model._meta.table_name)} SET {assignments}{clause}"  # noqa: S608
        _sql_cache[key] = sql
    return sql, params


def upsert_statement(model: type[peewee.Model], values: dict[str, Any]) -> tuple[str, list[Any]]:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE SET the given fields, with its parameters."""
    key = ("upsert", model, tuple(values), is_postgres())
    sql = _sql_cache.get(key)
    if sql is None:
        fields = [model._meta.fields[name] for name in values]
        columns = [_quote(f.column_name) for f in fields]
        primary = _primary_column(model)
        changed = ", ".join(f"{c} = excluded.{c}" for c in columns if c != _quote(primary))
        sql = (
            f"INSERT INTO {_quote(model._meta.table_name)} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join(_param() for _ in fields)}) "
            f"ON CONFLICT ({_quote(primary)}) DO UPDATE SET {changed}"
        )
        _sql_cache[key] = sql
    return sql, [model._meta.fields[name].db_value(value) for name, value in values.items()]
