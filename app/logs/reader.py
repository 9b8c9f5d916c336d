"""The reading end of a deployment's log: stored batches, then live ones, without loss or repeats.

A follower subscribes to the live fan-out first and reads the database second; the writer
stores before it publishes, so every record is in one or the other. Cursors drop repeats;
a gap (trimmed stream, Redis down, slow reader) sends it back to the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from app.domain.status import TERMINAL
from app.logs.bus import LogHub
from app.logs.records import LogBatch
from app.models import Deployment, LogChunk

PAGE = 200
IDLE_POLL_SECONDS = 2.0


async def stored(deployment_id: str, after: int) -> AsyncIterator[LogBatch]:
    """Stored batches past cursor `after`, in order."""
    cursor = after
    while True:
        chunks = (
            await LogChunk.filter(deployment_id=deployment_id, last_cursor__gt=cursor)
            .order_by("first_cursor")
            .limit(PAGE)
        )
        for chunk in chunks:
            batch = LogBatch(chunk.kind, chunk.first_cursor, chunk.last_cursor, chunk.data)
            part = batch.after(cursor)
            if part is not None:
                yield part
                cursor = part.last
        if len(chunks) < PAGE:
            return


async def follow(
    deployment_id: str, after: int, hub: LogHub, *, live: bool = True
) -> AsyncIterator[LogBatch]:
    """Batches past `after`; with `live`, follow until the deployment ends, then a `done`
    batch whose data is the final status. While following, an empty `tick` batch comes at
    least every couple of seconds, so the reader can check it may still read."""
    if not live:
        async for batch in stored(deployment_id, after):
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
    """Contiguous live batches; returns at a gap, a `done` marker or an idle timeout."""
    try:
        item = await asyncio.wait_for(queue.get(), IDLE_POLL_SECONDS)
    except TimeoutError:
        return
    while item is not None and item.kind != "done":
        part = item.after(cursor)
        if part is not None:
            if part.first != cursor + 1:
                return
            yield part
            cursor = part.last
        if queue.empty():
            try:
                item = await asyncio.wait_for(queue.get(), IDLE_POLL_SECONDS)
            except TimeoutError:
                return
        else:
            item = queue.get_nowait()


async def _status(deployment_id: str) -> str | None:
    value = await Deployment.filter(id=deployment_id).values_list("status", flat=True)
    return str(value[0]) if value else None
