"""Outages told to the admins: Redis unreachable, or no worker taking jobs, and recovery.

Each worker process probes every `reconcile_seconds`; three bad probes in a row are an outage,
one good probe after it a recovery. Subscriptions for every project receive them. With Redis
down the queue cannot carry the message, so this process sends it itself. Processes that see
the same outage within ten minutes share its key, so each channel hears of it once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from app.domain.notify import MAX_ATTEMPTS, Event, EventKind
from app.keyring.vault import Vault
from app.models import NotifyDelivery
from app.notify import dispatch
from app.settings import Settings

if TYPE_CHECKING:
    from app.queue import JobQueue

log = logging.getLogger("capstan.monitor")

BAD_PROBES = 3
BUCKET_SECONDS = 600
PROBLEMS = {
    "redis": "Redis is unreachable: nothing new is queued or run",
    "worker": "a worker stopped taking jobs: its deployments wait for another",
}


async def probe(jobs: JobQueue, worker_alive: Callable[[], bool]) -> str:
    """`ok`, `redis` or `worker`: what is wrong now."""
    try:
        await asyncio.wait_for(jobs.redis.ping(), 2)  # type: ignore[misc]
    except (RedisError, OSError, TimeoutError):
        return "redis"
    return "ok" if worker_alive() else "worker"


async def watch(
    settings: Settings, vault: Vault, jobs: JobQueue, worker_alive: Callable[[], bool]
) -> None:
    """Run forever, probing every `reconcile_seconds`: tell the admins when this worker
    cannot deploy, and when it can again."""
    told, bad = "ok", 0
    while True:
        await asyncio.sleep(settings.reconcile_seconds)
        try:
            state = await probe(jobs, worker_alive)
            bad = bad + 1 if state != "ok" else 0
            if state != "ok" and bad >= BAD_PROBES and told == "ok":
                await tell(settings, vault, jobs, EventKind.OUTAGE, state)
                told = state
            elif state == "ok" and told != "ok":
                await tell(settings, vault, jobs, EventKind.RECOVERED, told)
                told = "ok"
        except Exception as exc:  # the watch must outlive anything it watches
            log.warning("outage watch failed", extra={"error": str(exc)})


async def tell(
    settings: Settings, vault: Vault, jobs: JobQueue, kind: EventKind, what: str
) -> None:
    bucket = int(time.time() // BUCKET_SECONDS)
    title = (f"Capstan outage: {PROBLEMS[what]}" if kind is EventKind.OUTAGE
             else f"Capstan recovered: {what} is back")  # fmt: skip
    event = Event(kind=kind, key=f"{kind}:{what}:{bucket}", title=title,
                  url=f"{settings.base_url}/queue", facts={"problem": what})  # fmt: skip
    log.warning(title)
    for delivery in await dispatch.emit(event):
        if what == "redis" or not await jobs.send(delivery):
            _background(send_now(settings, vault, delivery))


_tasks: set[asyncio.Task[None]] = set()


def _background(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def send_now(settings: Settings, vault: Vault, delivery: NotifyDelivery) -> None:
    """Deliver without the queue, retrying with the queue's backoff."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if await dispatch.deliver(settings, vault, str(delivery.id)) != dispatch.RETRY:
            return
        await asyncio.sleep(dispatch.backoff(settings, attempt))
