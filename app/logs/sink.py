"""The writing end of a deployment's log: decode, mask, split, batch, store, then publish.

Secret values are masked before anything is stored or published. Output is buffered and
written as one `LogChunk` per flush, so a stage printing a million lines becomes a few hundred
rows. A flush comes as soon as output arrives when the last one was at least 100 ms ago, else
100 ms after the last one (or at 256 KiB): a stage printing now and then is seen at once, a
flood is batched as before. Past `max_bytes` the log is cut with a marker line while the stage
keeps running.

Flushes come from the timer and from the runner, one at a time. Storing a batch and moving the
cursor past it happen together even when the flushing task is cancelled (`settled`), so the
next flush never reuses a stored cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable

from app.db.clients import settled
from app.domain.masker import Masker
from app.logs.records import LineSplitter, LogBatch, utf8_decoder

FLUSH_SECONDS = 0.1
FLUSH_BYTES = 256 * 1024

Store = Callable[[LogBatch], Awaitable[None]]


class LogSink:
    def __init__(
        self,
        *,
        last_cursor: int,
        stored_bytes: int,
        max_bytes: int,
        store: Store,
        publish: Store,
        masker: Masker,
    ) -> None:
        self._cursor = last_cursor
        self._bytes = stored_bytes
        self._max_bytes = max_bytes
        self._truncated = stored_bytes >= max_bytes
        self._store = store
        self._publish = publish
        self._lines: list[str] = []
        self._buffered = 0
        self._storing = 0  # bytes of the batch being stored, not yet in `_bytes`
        self._decoder = utf8_decoder()
        self._masker = masker
        self._splitter = LineSplitter()
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self._pending = asyncio.Event()
        self._flushed_at = -FLUSH_SECONDS

    async def __aenter__(self) -> LogSink:
        self._ticker = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if exc[0] is None:
            self._end_output()
            await self.flush()

    async def write(self, data: bytes) -> None:
        """Raw output of a stage process."""
        text = self._masker.feed(self._decoder.decode(data))
        self._add(self._splitter.feed(text))
        if self._buffered >= FLUSH_BYTES:
            await self.flush()

    async def say(self, text: str) -> None:
        """A line of Capstan's own, such as `[capstan] retrying in 5 s`."""
        self._end_output()
        self._add([self._masker.mask(f"[capstan] {text}")])

    async def stage(self, name: str, status: str, attempt: int) -> None:
        """A stage event; it closes any partial output line first."""
        self._end_output()
        event = json.dumps({"name": name, "status": status, "attempt": attempt})
        async with self._lock:
            await self._flush_lines()
            await self._commit(LogBatch("stage", self._cursor + 1, self._cursor + 1, event), 0)

    async def flush(self) -> None:
        async with self._lock:
            await self._flush_lines()

    def _end_output(self) -> None:
        """The output so far ends here (a stage ends): settle the held-back text."""
        text = self._masker.feed(self._decoder.decode(b"", final=True)) + self._masker.flush()
        self._add(self._splitter.feed(text) + self._splitter.close())

    def _add(self, lines: list[str]) -> None:
        if self._truncated or not lines:
            return
        size = sum(map(len, lines)) + len(lines)
        if self._bytes + self._storing + self._buffered + size > self._max_bytes:
            self._truncated = True
            lines = [f"[capstan] log truncated at {self._max_bytes} bytes; the stage goes on"]
            size = len(lines[0]) + 1
        self._lines.extend(lines)
        self._buffered += size
        self._pending.set()

    async def _flush_lines(self) -> None:
        if not self._lines:
            return
        lines, size = self._lines, self._buffered
        self._lines, self._buffered = [], 0
        self._flushed_at = time.monotonic()
        first = self._cursor + 1
        await self._commit(LogBatch("lines", first, first + len(lines) - 1, "\n".join(lines)), size)

    async def _commit(self, batch: LogBatch, size: int) -> None:
        """Store `batch` and move past it, as one step no cancellation splits; then publish."""

        async def store() -> None:
            await self._store(batch)
            self._cursor, self._bytes, self._storing = batch.last, self._bytes + size, 0

        self._storing = size
        await settled(store())
        await self._publish(batch)

    async def _tick(self) -> None:
        """Flush what arrives, at most once per FLUSH_SECONDS; a failed store ends the ticker
        (the runner sees it on its own)."""
        with contextlib.suppress(Exception):
            while True:
                await self._pending.wait()
                wait = self._flushed_at + FLUSH_SECONDS - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._pending.clear()
                await self.flush()
