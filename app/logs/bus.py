"""Live fan-out of deployment logs through Redis streams.

Writers store a batch in the database first, then publish it here (`XADD`, trimmed). Readers
in a process share one `XREAD BLOCK` per deployment (`LogHub`), which hands batches to every
subscriber's queue. Redis only speeds things up: a reader that misses anything (Redis down,
stream trimmed, slow consumer) sees a gap in the cursors and reads the database instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.logs.records import LogBatch
from app.models import Deployment

log = logging.getLogger("capstan.logbus")

STREAM_MAXLEN = 256
STREAM_TTL_SECONDS = 24 * 3600
SUBSCRIBER_QUEUE = 1024
BLOCK_MS = 2000
# After this long without a batch, subscribers get a `tick` (they recheck status and access).
# The hub keeps the time, once per deployment: a timer per viewer per batch, a thousand
# viewers deep, is garbage enough to trigger a full collection every few seconds.
IDLE_SECONDS = 2.0
TICK = LogBatch("tick", 0, -1, "")


def stream_key(deployment_id: str) -> str:
    return f"capstan:log:{deployment_id}"


async def publish(redis: Redis, deployment_id: str, batch: LogBatch) -> None:
    """XADD one batch (or the `done` marker); a Redis failure is logged, never raised.

    Viewers in this process (a hub on the same client) get the batch at once, not one Redis
    round trip and one `XREAD` later; the hub drops the copy that comes back through Redis."""
    hub = _HUBS.get(redis)
    if hub is not None:
        hub.deliver(deployment_id, batch)
    key = stream_key(deployment_id)
    fields = {"k": batch.kind, "f": batch.first, "l": batch.last, "d": batch.data}
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, fields, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
            pipe.expire(key, STREAM_TTL_SECONDS)
            await pipe.execute()
    except RedisError as exc:
        log.debug("log publish failed (the database has the log)", extra={"error": str(exc)})


def done_batch(cursor: int, status: str) -> LogBatch:
    """The marker published when a deployment reaches a terminal status."""
    return LogBatch("done", cursor + 1, cursor, status)


async def publish_done(redis: Redis, dep: Deployment) -> None:
    """Tell `dep`'s live readers it has ended: the one place "done" is published."""
    await publish(redis, str(dep.id), done_batch(0, dep.status))


@dataclass
class _Channel:
    subscribers: set[asyncio.Queue[LogBatch | None]] = field(default_factory=set)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    # The last record handed out, and whether `done` was: what comes twice (published in
    # this process, then read back from Redis) is handed out once.
    delivered: int = 0
    done: bool = False
    quiet_since: float = field(default_factory=time.monotonic)

    def fresh(self, batch: LogBatch) -> bool:
        if batch.kind == "done":
            fresh, self.done = not self.done, True
            return fresh
        if batch.last <= self.delivered:
            return False
        self.delivered, self.quiet_since = batch.last, time.monotonic()
        return True


# The hub of each Redis client, so `publish` in this process reaches its viewers directly.
_HUBS: weakref.WeakKeyDictionary[Redis, LogHub] = weakref.WeakKeyDictionary()


class LogHub:
    """One Redis reader per followed deployment, fanned out to in-process subscribers."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._channels: dict[str, _Channel] = {}
        _HUBS[redis] = self

    @contextlib.asynccontextmanager
    async def subscribe(self, deployment_id: str) -> AsyncIterator[asyncio.Queue[LogBatch | None]]:
        """A queue of every batch published after this returns.

        `None` in the queue means the subscriber fell behind and must re-read the database;
        `TICK`, that nothing came for IDLE_SECONDS.
        """
        channel = self._channels.get(deployment_id)
        if channel is None:
            channel = self._channels[deployment_id] = _Channel()
            channel.task = asyncio.create_task(self._read(deployment_id, channel))
        queue: asyncio.Queue[LogBatch | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        channel.subscribers.add(queue)
        try:
            await channel.ready.wait()
            yield queue
        finally:
            channel.subscribers.discard(queue)
            if not channel.subscribers and self._channels.get(deployment_id) is channel:
                del self._channels[deployment_id]
                if channel.task:
                    channel.task.cancel()

    async def close(self) -> None:
        for channel in self._channels.values():
            if channel.task:
                channel.task.cancel()
        self._channels.clear()

    async def _read(self, deployment_id: str, channel: _Channel) -> None:
        key = stream_key(deployment_id)
        last_id: Any = "0-0"
        try:
            newest: Any = await self._redis.xrevrange(key, count=1)
            if newest:
                last_id = newest[0][0]
        except RedisError:
            pass
        channel.ready.set()
        while True:
            response: Any = None
            try:
                # Bounded: a Redis that hangs must not stop the ticks.
                async with asyncio.timeout(BLOCK_MS / 1000 + 5):
                    response = await self._redis.xread({key: last_id}, count=64, block=BLOCK_MS)
            except (RedisError, TimeoutError):
                await asyncio.sleep(1)
            for _stream, entries in response or []:
                for entry_id, fields in entries:
                    last_id = entry_id
                    self._deliver(channel, _decode(fields))
            self._tick_if_quiet(channel)

    @staticmethod
    def _tick_if_quiet(channel: _Channel) -> None:
        if time.monotonic() - channel.quiet_since < IDLE_SECONDS:
            return
        channel.quiet_since = time.monotonic()
        for queue in channel.subscribers:
            # A full queue has batches to wake its reader already.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(TICK)

    def deliver(self, deployment_id: str, batch: LogBatch) -> None:
        """Hand `batch` to the deployment's subscribers in this process, if it has any."""
        channel = self._channels.get(deployment_id)
        if channel is not None and channel.ready.is_set():
            self._deliver(channel, batch)

    @staticmethod
    def _deliver(channel: _Channel, batch: LogBatch) -> None:
        if not channel.fresh(batch):
            return
        for queue in channel.subscribers:
            try:
                queue.put_nowait(batch)
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    while True:
                        queue.get_nowait()
                queue.put_nowait(None)


def _decode(fields: dict[bytes | str, bytes | str]) -> LogBatch:
    def text(name: str) -> str:
        value = fields.get(name.encode(), fields.get(name, b""))
        return value.decode() if isinstance(value, bytes) else str(value)

    return LogBatch(text("k"), int(text("f")), int(text("l")), text("d"))
