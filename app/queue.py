"""The job queue: the only module that imports SAQ.

A job says "advance deployment X"; it is keyed by the deployment's id and revision, so asking
twice for the same state queues one job, while a new state (a crash, an approval) gets a new
one. Jobs carry no truth: `app.engine.runner.advance` reads the database and does nothing when
there is nothing to do, so duplicates, replays and sweeps are harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from saq import Worker
from saq.queue.redis import RedisQueue
from saq.types import Context, PartialTimersDict

from app.domain.notify import Event, EventKind
from app.engine.bundle import Engine
from app.engine.runner import advance
from app.forges.statuses import post_status
from app.models import Deployment, NotifyDelivery
from app.notify import dispatch
from app.settings import Settings

log = logging.getLogger("capstan.queue")

QUEUE_NAME = "capstan"
JOB_HEARTBEAT_SECONDS = 120
REPORT_ATTEMPTS = 5


class CapstanQueue(RedisQueue):
    async def dequeue(self, timeout: float = 0.0, poll_interval: float = 0.0) -> Any:
        """Like SAQ's, but a Redis outage waits instead of spinning the worker's loop."""
        try:
            return await super().dequeue(timeout, poll_interval)
        except (RedisError, OSError) as exc:
            log.warning("dequeue failed; retrying", extra={"error": str(exc)})
            await asyncio.sleep(1)
            return None


class CapstanWorker(Worker[Context]):
    """SAQ's worker without its signal handlers: the server owns SIGTERM."""

    SIGNALS: list[Any] = []


def redis_client(url: str) -> Redis:
    """A client for blocking reads: no socket timeout (redis-py 8 defaults to 5 s)."""
    return Redis.from_url(url, socket_timeout=None, health_check_interval=30)


class JobQueue:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.queue = CapstanQueue(redis, name=QUEUE_NAME)
        self._background: set[asyncio.Task[Any]] = set()

    async def enqueue(self, dep: Deployment) -> bool:
        """Ask a worker to advance `dep`. False when Redis is unreachable: the row waits in the
        database and the reconciler enqueues it once Redis is back."""
        try:
            await self.queue.enqueue(
                "advance",
                key=f"{dep.id}:{dep.revision}",
                deployment_id=str(dep.id),
                timeout=0,
                heartbeat=JOB_HEARTBEAT_SECONDS,
                retries=1,
            )
        except (RedisError, OSError) as exc:
            log.warning(
                "enqueue failed; the reconciler will retry",
                extra={"deployment": str(dep.id), "error": str(exc)},
            )
            return False
        return True

    async def report(self, dep: Deployment) -> None:
        """Tell the world `dep` changed: its commit status (when it came from a forge) and the
        notifications its status is an event of. Best effort, retried with backoff, and in the
        background so no request or deployment waits for it."""
        if dep.report:
            self._in_background(self._enqueue_report(dep.id, dep.status))
        await self.notify(dep, dispatch.kind_for(dep))

    async def notify(self, dep: Deployment, kind: EventKind) -> None:
        """Notify the channels subscribed to `kind` of `dep`, in the background."""
        self._in_background(self._notify(dep, kind))

    async def tell(self, event: Event) -> None:
        """Notify the channels subscribed to `event`, in the background."""
        self._in_background(self._emit(event))

    def _in_background(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _notify(self, dep: Deployment, kind: EventKind) -> None:
        try:
            event = await dispatch.event_for(dep, kind, self.settings.base_url)
        except Exception as exc:  # a notification must never break what it reports
            log.warning("notification not emitted", extra={"deployment": str(dep.id),
                                                           "error": str(exc)})  # fmt: skip
            return
        await self._emit(event)

    async def _emit(self, event: Event) -> None:
        try:
            for delivery in await dispatch.emit(event):
                await self.send(delivery)
        except Exception as exc:
            log.warning("notification not emitted", extra={"event": event.key,
                                                           "error": str(exc)})  # fmt: skip

    async def send(self, delivery: NotifyDelivery, attempt: int = 1, delay: float = 0) -> bool:
        """Ask a worker to make one attempt at a delivery, after `delay` seconds. Each attempt
        is its own job (keyed by delivery and attempt): a retry is a new job scheduled for
        later, and asking again for a lost one is harmless."""
        try:
            await self.queue.enqueue(
                "notify",
                key=f"notify:{delivery.id}:{attempt}",
                delivery_id=str(delivery.id),
                attempt=attempt,
                timeout=90,
                scheduled=int(time.time() + delay) if delay else 0,
            )
        except (RedisError, OSError) as exc:
            log.warning("notification not enqueued; the reconciler will retry",
                        extra={"delivery": str(delivery.id), "error": str(exc)})  # fmt: skip
            return False
        return True

    async def _enqueue_report(self, dep_id: object, status: str) -> bool:
        try:
            await self.queue.enqueue(
                "report",
                key=f"report:{dep_id}:{status}",
                deployment_id=str(dep_id),
                state=status,  # not `status`: SAQ takes that for the job's own
                timeout=60,
                retries=REPORT_ATTEMPTS,
                retry_delay=1.0,
                retry_backoff=True,
            )
        except (RedisError, OSError) as exc:
            log.warning(
                "status report dropped", extra={"deployment": str(dep_id), "error": str(exc)}
            )
            return False
        return True

    def worker(self, engine: Engine, concurrency: int) -> CapstanWorker:
        async def advance_job(ctx: Context, *, deployment_id: str) -> None:
            job = ctx.get("job")
            await advance(engine, deployment_id, touch=job.update if job else None)

        async def report_job(
            ctx: Context, *, deployment_id: str, state: str | None = None
        ) -> list[str] | None:
            return await post_status(
                engine.settings, engine.vault, engine.redis, deployment_id, state
            )

        async def notify_job(ctx: Context, *, delivery_id: str, attempt: int = 1) -> str:
            done = await dispatch.deliver(engine.settings, engine.vault, delivery_id)
            if done == dispatch.RETRY:
                delay = dispatch.backoff(engine.settings, attempt)
                await self.send(NotifyDelivery(id=delivery_id), attempt + 1, delay)
            return done

        return CapstanWorker(
            self.queue,
            functions=[("advance", advance_job), ("report", report_job), ("notify", notify_job)],
            id=engine.holder,
            concurrency=concurrency,
            dequeue_timeout=5,
            cancellation_hard_deadline_s=engine.settings.kill_grace_seconds + 5,
            timers=PartialTimersDict(sweep=30),  # type: ignore[typeddict-item]
        )

    async def info(self) -> dict[str, Any]:
        info = await self.queue.info()
        return {
            "pending": info.get("queued", 0),
            "active": info.get("active", 0),
            "scheduled": info.get("scheduled", 0),
            "workers": len(info.get("workers", {})),
        }

    async def close(self) -> None:
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        await self.queue.disconnect()
