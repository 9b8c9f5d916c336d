"""One row by one column, with its SQL built once per model, column and dialect.

Tortoise builds every query's SQL afresh through pypika: for a deployment and its project that
is about 0.3 ms of the event loop's time, most of what answering `GET /api/v1/deployments/{id}`
costs, while SQLite finds the row in microseconds. The hot lookups (the guard's, per request)
come here instead; the row becomes a model exactly as Tortoise's own queries make it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from tortoise.connection import connections
from tortoise.models import Model

from app.db.clients import SafeSqliteClient

M = TypeVar("M", bound=Model)

_SQL: dict[tuple[type[Model], str, str], str] = {}


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
    return model._init_from_db(**rows[0]) if rows else None


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
