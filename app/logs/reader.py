"""The reading end of a deployment's log: stored batches, then live ones, without loss or repeats.

A follower subscribes to the live fan-out first and reads the database second; the writer
stores before it publishes, so every record is in one or the other. Cursors drop repeats;
a gap (trimmed stream, Redis down, slow reader) sends it back to the database.

A reader may also ask for a range: records after one cursor and before another, or the last N
(`tail_start`), so a page can open a million-line log at its end and page back through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from app.domain.status import TERMINAL
from app.logs.bus import LogHub
from app.logs.records import LogBatch
from app.models import Deployment, LogChunk

PAGE = 200


async def last_cursor(deployment_id: str) -> int:
    """The newest stored cursor of a deployment's log (0 when it has none)."""
    newest = (
        await LogChunk.filter(deployment_id=deployment_id)
        .order_by("-first_cursor")
        .only("id", "last_cursor")
        .first()
    )
    return newest.last_cursor if newest else 0


async def tail_start(deployment_id: str, count: int, before: int | None = None) -> int:
    """The cursor to read after for the last `count` records (before cursor `before`)."""
    end = await last_cursor(deployment_id)
    if before is not None:
        end = min(end, before - 1)
    return max(end - count, 0)


def _until(batch: LogBatch, before: int) -> LogBatch:
    """The part of `batch` before cursor `before` (the batch starts before it)."""
    if batch.last < before:
        return batch
    kept = batch.lines()[: before - batch.first]
    return LogBatch(batch.kind, batch.first, before - 1, "\n".join(kept))


async def stored(
    deployment_id: str, after: int, before: int | None = None
) -> AsyncIterator[LogBatch]:
    """Stored batches past cursor `after` (and before cursor `before`), in order."""
    cursor = after
    while before is None or cursor < before - 1:
        query = LogChunk.filter(deployment_id=deployment_id, last_cursor__gt=cursor)
        if before is not None:
            query = query.filter(first_cursor__lt=before)
        chunks = await query.order_by("first_cursor").limit(PAGE)
        for chunk in chunks:
            batch = LogBatch(chunk.kind, chunk.first_cursor, chunk.last_cursor, chunk.data)
            part = batch.after(cursor)
            if part is not None:
                part = part if before is None else _until(part, before)
                yield part
                cursor = part.last
        if len(chunks) < PAGE:
            return


async def follow(
    deployment_id: str,
    after: int,
    hub: LogHub,
    *,
    live: bool = True,
    before: int | None = None,
) -> AsyncIterator[LogBatch]:
    """Batches past `after`; with `live`, follow until the deployment ends, then a `done`
    batch whose data is the final status. While following, an empty `tick` batch comes at
    least every couple of seconds, so the reader can check it may still read. A range that
    ends (`before` a cursor) is read from the database only, and never followed."""
    if not live or before is not None:
        async for batch in stored(deployment_id, after, before):
            yield batch
        return
    cursor = after
    async with hub.subscribe(deployment_id) as queue:
        while True:
            async for batch in stored(deployment_id, cursor):
                yield batch
                cursor = batch.last
            status = await _status(deployment_id)
            if status is None or status in TERMINAL:
                async for batch in stored(deployment_id, cursor):
                    yield batch
                yield LogBatch("done", cursor + 1, cursor, status or "DELETED")
                return
            async for batch in _live(queue, cursor):
                yield batch
                cursor = batch.last
            yield LogBatch("tick", cursor + 1, cursor, "")


async def _live(queue: asyncio.Queue[LogBatch | None], cursor: int) -> AsyncIterator[LogBatch]:
    """Contiguous live batches; returns at a gap, a `done` marker or the hub's idle `tick`."""
    while True:
        item = queue.get_nowait() if not queue.empty() else await queue.get()
        if item is None or item.kind in ("done", "tick"):
            return
        part = item.after(cursor)
        if part is not None:
            if part.first != cursor + 1:
                return
            yield part
            cursor = part.last


async def _status(deployment_id: str) -> str | None:
    value = await Deployment.filter(id=deployment_id).values_list("status", flat=True)
    return str(value[0]) if value else None
