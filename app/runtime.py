"""Everything a Capstan process runs besides HTTP: database, Redis, engine, worker, reconciler.

`capstan serve` runs it inside the web app's lifespan; `capstan worker` runs it alone. Both
are the same engine, so scaling out is starting more of either against one database and Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from redis.exceptions import RedisError
from tortoise import Tortoise

from app import datadir, db
from app.accounts import auth
from app.bundled_redis import EmbeddedRedis
from app.engine import reconciler
from app.engine.bundle import Engine
from app.engine.sandbox import Sandbox, detect
from app.keyring import ssh
from app.keyring.keys import open_vault
from app.keyring.vault import Vault
from app.logs.bus import LogHub
from app.metrics import Metrics
from app.notify import monitor
from app.queue import CapstanWorker, JobQueue, redis_client
from app.settings import Settings

log = logging.getLogger("capstan")


@dataclasses.dataclass
class Runtime:
    settings: Settings
    engine: Engine
    jobs: JobQueue
    hub: LogHub
    vault: Vault
    metrics: Metrics
    sandbox: Sandbox
    worker_task: asyncio.Task[None] | None

    @property
    def worker_alive(self) -> bool:
        return self.worker_task is not None and not self.worker_task.done()


async def open_sandbox(settings: Settings) -> Sandbox:
    """The stage sandbox in effect, said at start; no sandbox is said loudly."""
    hidden = [settings.data_dir.resolve()]
    if settings.dialect == "sqlite":
        hidden.append(Path(settings.database.removeprefix("sqlite://")).parent)
    sandbox = await detect(settings.sandbox, settings.sandbox_uid, tuple(hidden))
    if sandbox.isolated:
        log.info("stages run sandboxed", extra={"sandbox": sandbox.kind, "uid": sandbox.uid})
    elif settings.single_team:
        log.warning(
            "NO SANDBOX: stages run as Capstan's own user and can read its data "
            "(CAPSTAN_SINGLE_TEAM=1 accepts this)",
            extra={"why": sandbox.why or "CAPSTAN_SANDBOX=none"},
        )
    else:
        log.warning(
            "NO SANDBOX: stages could read Capstan's data, so only admins may write stages "
            "until CAPSTAN_SINGLE_TEAM=1 accepts it or a sandbox works here",
            extra={"why": sandbox.why or "CAPSTAN_SANDBOX=none"},
        )
    return sandbox


@contextlib.asynccontextmanager
async def running(settings: Settings, *, worker: bool = True) -> AsyncIterator[Runtime]:
    """Start the parts in order and stop them in reverse; with `worker`, run jobs here too."""
    datadir.prepare(settings)
    stale = ssh.remove_stale(ssh.scratch(settings.data_dir))
    if stale:
        log.info("removed key files a stopped process left", extra={"directories": stale})
    embedded = None if settings.redis_url else EmbeddedRedis(settings.data_dir)
    redis_url = settings.redis_url or await asyncio.to_thread(embedded.start)  # type: ignore[union-attr]
    applied = await db.migrate(settings)
    if applied:
        log.info("migrations applied", extra={"migrations": applied})
    await Tortoise.init(config=db.tortoise_config(settings), _enable_global_fallback=True)
    try:
        sandbox = await open_sandbox(settings)
        vault = await open_vault(settings)
        password = await auth.ensure_admin(settings.data_dir)
        if password:
            log.warning(
                "created user admin; its password is in the file named here",
                extra={"path": str((settings.data_dir / "initial-admin-password").resolve())},
            )
    except BaseException:
        await Tortoise.close_connections()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        raise
    redis = redis_client(redis_url)
    jobs = JobQueue(redis, settings)
    metrics = Metrics()
    holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    engine = Engine(
        settings,
        holder,
        redis,
        jobs.enqueue,
        jobs.report,
        jobs.notify,
        jobs.send,
        jobs.tell,
        metrics,
        vault,
        sandbox,
    )
    hub = LogHub(redis)
    tasks: list[asyncio.Task[None]] = []
    saq_worker: CapstanWorker | None = None
    worker_task = None
    if worker:
        saq_worker = jobs.worker(engine, settings.worker_concurrency)
        worker_task = asyncio.create_task(saq_worker.start(), name="capstan-worker")
        tasks.append(asyncio.create_task(reconciler.run_forever(engine), name="reconciler"))
        alive = worker_task.done
        watch = monitor.watch(settings, vault, jobs, lambda: not alive())
        tasks.append(asyncio.create_task(watch, name="outage-watch"))
    try:
        yield Runtime(settings, engine, jobs, hub, vault, metrics, sandbox, worker_task)
    finally:
        if saq_worker is not None and worker_task is not None:
            await saq_worker.stop()
            await worker_task
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hub.close()
        with contextlib.suppress(RedisError, OSError):
            await jobs.close()
            await redis.aclose()
        await Tortoise.close_connections()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
