"""Tortoise clients for SQLite and PostgreSQL that no cancellation can wedge.

Tortoise 1.1.9 leaks SQLite's connection lock (on PostgreSQL, a pooled connection) when a task
is cancelled while a transaction begins, and every later query in the process waits forever.
Capstan cancels tasks that write (a log flush, a stream whose client left, an aborted job), so
here each step that holds the connection runs to its end whatever happens to the task awaiting
it, and the cancellation is delivered right after: a statement is never abandoned half-run and
a transaction always ends in COMMIT or ROLLBACK. Waiting for the connection is bounded too:
past `WAIT_SECONDS` the caller gets `DatabaseBusy`, which the web layer answers with 503.

`app.db` names this module as the engine of both dialects; `get_client_class` picks one.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable
from typing import Any, TypeVar

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import (
    ConnectionWrapper,
    PoolConnectionWrapper,
    TransactionContextPooled,
)
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections
from tortoise.exceptions import OperationalError, TransactionManagementError

T = TypeVar("T")

WAIT_SECONDS = 5.0


class DatabaseBusy(OperationalError):
    """The database did not answer in time (its lock is held, or the server is stuck)."""


async def settled(aw: Awaitable[T]) -> T:
    """Await `aw` to its end even if the awaiting task is cancelled meanwhile; then deliver the
    cancellation. `aw` runs in a task of its own that nothing cancels."""
    task = asyncio.ensure_future(aw)
    interrupted = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise
            interrupted = True
        except BaseException:
            if interrupted:
                raise asyncio.CancelledError from None
            raise
    if interrupted:
        raise asyncio.CancelledError
    return result


async def _waited(aw: Awaitable[T]) -> T:
    """A wait for the connection (`aw`), as DatabaseBusy past the deadline."""
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            return await aw
    except TimeoutError:
        raise DatabaseBusy(f"the database did not answer within {WAIT_SECONDS:g} s") from None


async def _quietly_rollback(transaction: Any) -> None:
    with contextlib.suppress(Exception):
        await transaction.rollback()


async def _end(transaction: Any, failed: type[BaseException] | None) -> None:
    """COMMIT, or ROLLBACK when the block failed or the COMMIT did."""
    if transaction._finalized:
        return
    if failed is None:
        try:
            await transaction.commit()
        except BaseException:
            await _quietly_rollback(transaction)
            raise
    elif failed is not TransactionManagementError:
        await transaction.rollback()


class _SqliteConnection(ConnectionWrapper[Any]):
    async def __aenter__(self) -> Any:
        await _waited(self._lock.acquire())
        try:
            await self.ensure_connection()
        except BaseException:
            self._lock.release()
            raise
        return self.connection


class _SqliteTransaction(SqliteTransactionContext):
    async def __aenter__(self) -> Any:
        await _waited(self._trxlock.acquire())
        try:
            await settled(self._begin())
        except BaseException:
            await settled(_quietly_rollback(self.connection))
            self._trxlock.release()
            raise
        self.token = get_connections().set(self.connection_name, self.connection)
        return self.connection

    async def _begin(self) -> None:
        await self.ensure_connection()
        await self.connection.begin()

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        try:
            await settled(_end(self.connection, exc_type))
        finally:
            get_connections().reset(self.token)
            self._trxlock.release()


def _point_lookup(query: str, values: list[Any] | None) -> bool:
    """A SELECT of at most two rows (`.first()`, `.get()`, `.exists()`): bounded work."""
    return bool(
        values
        and query.startswith("SELECT ")
        and query.endswith(" LIMIT ?")
        and isinstance(values[-1], int)
        and values[-1] <= 2
    )


class SafeSqliteClient(SqliteClient):
    """SQLite: one connection behind a lock, every statement run to its end.

    Point lookups outside transactions (a token, a deployment by id) read through a second,
    read-only connection on the event loop itself: a few microseconds of SQLite, instead of
    a hop to aiosqlite's thread and back, in turn behind every other query waiting for the
    one connection. WAL lets it read while the other writes, and it sees what is committed,
    as any other process would; a busy database sends the read the usual way."""

    _reader: sqlite3.Connection | None = None

    def _read_now(self, query: str, values: list[Any] | None) -> list[Any] | None:
        return self.read_now(query, values) if _point_lookup(query, values) else None

    def read_now(self, query: str, values: list[Any] | None) -> list[Any] | None:
        """Rows of a SELECT its caller knows to be small, read on the loop; None when it must
        go the usual way (busy, an in-memory database)."""
        if self.filename == ":memory:":
            return None
        try:
            if self._reader is None:
                self._reader = sqlite3.connect(self.filename, isolation_level=None, timeout=0)
                self._reader.row_factory = sqlite3.Row
                self._reader.execute("PRAGMA query_only=ON")
            return self._reader.execute(query, values or []).fetchall()
        except sqlite3.Error:
            return None  # busy, or anything odd: the usual way reports it properly

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        await super().close()

    def acquire_connection(self) -> Any:
        return _SqliteConnection(self._lock, self)

    def _in_transaction(self) -> Any:
        return _SqliteTransaction(SqliteTransactionWrapper(self), self._lock)

    async def execute_insert(self, query: str, values: list[Any]) -> int:
        return await settled(super().execute_insert(query, values))

    async def execute_many(self, query: str, values: list[list[Any]]) -> None:
        await settled(super().execute_many(query, values))

    async def execute_query(self, query: str, values: list[Any] | None = None) -> Any:
        rows = self._read_now(query, values)
        if rows is not None:
            return len(rows), rows
        return await settled(super().execute_query(query, values))

    async def execute_query_dict(self, query: str, values: list[Any] | None = None) -> Any:
        rows = self._read_now(query, values)
        if rows is not None:
            return list(map(dict, rows))
        return await settled(super().execute_query_dict(query, values))

    async def execute_script(self, query: str) -> None:
        await settled(super().execute_script(query))


class _PooledConnection(PoolConnectionWrapper[Any]):
    async def __aenter__(self) -> Any:
        await self.ensure_connection()
        self.connection = await _waited(self.client._pool.acquire())
        return self.connection


class _PooledTransaction(TransactionContextPooled):
    async def __aenter__(self) -> Any:
        await self.ensure_connection()
        pool = self.client._parent._pool
        self.client._connection = await _waited(pool.acquire())
        try:
            await settled(self.client.begin())
        except BaseException:
            await settled(self._release(rollback=True))
            raise
        self.token = get_connections().set(self.connection_name, self.client)
        return self.client

    async def _release(self, rollback: bool) -> None:
        if rollback:
            await _quietly_rollback(self.client)
        await self.client._parent._pool.release(self.client._connection)

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        try:
            await settled(_end(self.client, exc_type))
        finally:
            await settled(self._release(rollback=False))
            get_connections().reset(self.token)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Capstan sets no session state (no SET, LISTEN, advisory locks or cursors), so a pooled
    connection needs no reset query on its way back: asyncpg's default costs a round trip
    after every query. asyncpg still rolls back a transaction left open."""


class SafeAsyncpgClient(AsyncpgDBClient):
    """PostgreSQL: a bounded wait for a pooled connection; transactions that always end."""

    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        return await asyncpg.create_pool(None, reset=_keep_session, **kwargs)

    def acquire_connection(self) -> Any:
        return _PooledConnection(self, self._pool_init_lock)

    def _in_transaction(self) -> Any:
        return _PooledTransaction(TransactionWrapper(self), self._pool_init_lock)


def get_client_class(db_info: dict[str, Any]) -> type[Any]:
    """Tortoise's engine hook: SQLite configurations name a file, PostgreSQL ones a host."""
    return SafeSqliteClient if "file_path" in db_info["credentials"] else SafeAsyncpgClient
