"""One row by one column, with its SQL built once per model, column and dialect.

Tortoise builds every query's SQL afresh through pypika: for a deployment and its project that
is about 0.3 ms of the event loop's time, most of what answering `GET /api/v1/deployments/{id}`
costs, while SQLite finds the row in microseconds. The hot lookups (the guard's, per request)
come here instead; the row becomes a model exactly as Tortoise's own queries make it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any, TypeVar

from tortoise.connection import connections
from tortoise.fields import DatetimeField
from tortoise.models import Model

from app.db.clients import SafeSqliteClient

M = TypeVar("M", bound=Model)
P = TypeVar("P", bound=Model)

_SQL: dict[tuple[type[Model], str, str], str] = {}
_TIMES: dict[type[Model], list[str]] = {}


def _made(model: type[M], row: dict[str, Any]) -> M:
    """The model of a row. SQLite gives timestamps as text, which Tortoise parses in Python
    (iso8601, the larger part of making a deployment); `fromisoformat` parses them in C."""
    times = _TIMES.get(model)
    if times is None:
        times = _TIMES[model] = [
            model._meta.fields_db_projection[name]
            for name, field in model._meta.fields_map.items()
            if isinstance(field, DatetimeField)
        ]
    for column in times:
        if isinstance(value := row.get(column), str):
            with contextlib.suppress(ValueError):  # else Tortoise's own parser
                row[column] = dt.datetime.fromisoformat(value)
    return model._init_from_db(**row)


def _sql(model: type[Model], column: str, dialect: str) -> str:
    meta = model._meta
    columns = ", ".join(f'"{c}"' for c in meta.fields_db_projection.values())
    where = f'"{meta.fields_db_projection[column]}"'
    params = ("?", "?") if dialect == "sqlite" else ("$1", "$2")
    return (f'SELECT {columns} FROM "{meta.db_table}" WHERE {where} = {params[0]} '
            f"LIMIT {params[1]}")  # fmt: skip


async def one(model: type[M], column: str, value: Any) -> M | None:
    """The row of `model` whose `column` is `value`, or None (`column` should be unique)."""
    client = model._meta.db
    dialect = client.capabilities.dialect
    sql = _SQL.get((model, column, dialect))
    if sql is None:
        sql = _SQL[(model, column, dialect)] = _sql(model, column, dialect)
    field = model._meta.fields_map[column]
    rows = await client.execute_query_dict(sql, [field.to_db_value(value, model), 1])
    return _made(model, dict(rows[0])) if rows else None


def _pair_sql(model: type[Model], column: str, parent: type[Model], via: str, dialect: str) -> str:
    child, other = model._meta, parent._meta
    columns = [f'c."{c}" AS "{c}"' for c in child.fields_db_projection.values()]
    columns += [f'p."{c}" AS "p.{c}"' for c in other.fields_db_projection.values()]
    params = ("?", "?") if dialect == "sqlite" else ("$1", "$2")
    join = f'p."{other.db_pk_column}" = c."{child.fields_db_projection[via]}"'
    where = f'c."{child.fields_db_projection[column]}" = {params[0]}'
    return (f'SELECT {", ".join(columns)} FROM "{child.db_table}" c JOIN "{other.db_table}" p '
            f"ON {join} WHERE {where} LIMIT {params[1]}")  # fmt: skip


async def one_with(
    model: type[M], column: str, value: Any, parent: type[P], via: str
) -> tuple[M, P] | None:
    """As `one`, with the `parent` row its column `via` points to, in the same statement."""
    client = model._meta.db
    dialect = client.capabilities.dialect
    key = (model, f"{column}+{parent.__name__}.{via}", dialect)
    sql = _SQL.get(key)
    if sql is None:
        sql = _SQL[key] = _pair_sql(model, column, parent, via, dialect)
    field = model._meta.fields_map[column]
    rows = await client.execute_query_dict(sql, [field.to_db_value(value, model), 1])
    if not rows:
        return None
    own: dict[str, Any] = {}
    theirs: dict[str, Any] = {}
    for name, cell in rows[0].items():
        if name.startswith("p."):
            theirs[name[2:]] = cell
        else:
            own[name] = cell
    return _made(model, own), _made(parent, theirs)


async def few(sql: str, values: list[Any]) -> list[dict[str, Any]]:
    """The rows of `sql` (placeholders `{}`), a SELECT its caller knows returns a few rows:
    on SQLite they are read on the event loop, as point lookups are."""
    client = connections.get("default")
    sqlite = client.capabilities.dialect == "sqlite"
    query = sql.format(*(("?" if sqlite else f"${n}") for n in range(1, len(values) + 1)))
    rows = client.read_now(query, values) if isinstance(client, SafeSqliteClient) else None
    if rows is not None:
        return [dict(row) for row in rows]
    return list(await client.execute_query_dict(query, values))
