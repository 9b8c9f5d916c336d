"""Operations endpoints: health, readiness, metrics and the queue."""

from __future__ import annotations

import asyncio

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from tortoise import connections
from tortoise.functions import Count

from app.domain.status import Status
from app.errors import Unavailable
from app.models import Deployment
from app.runtime import Runtime
from app.web.context import runtime

CHECK_SECONDS = 2.0


async def healthz(request: Request) -> Response:
    """200 while the process serves."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 when the database and Redis answer and a worker runs; else 503 naming what is down."""
    rt = runtime(request)
    checks = {
        # Database calls run to their end (app.db.clients); the shield lets readyz answer anyway.
        "database": await _check(
            asyncio.shield(connections.get("default").execute_query("SELECT 1"))
        ),
        "redis": await _check(rt.jobs.redis.ping()),
        "worker": await _worker_state(rt),
    }
    down = sorted(name for name, state in checks.items() if state != "ok")
    body = {
        "status": "ok" if not down else "unavailable",
        "checks": checks,
        "down": down,
        "sandbox": rt.sandbox.kind,
    }
    headers = {"Retry-After": "5"} if down else None
    return JSONResponse(body, status_code=503 if down else 200, headers=headers)


async def _worker_state(rt: Runtime) -> str:
    """This process's worker; for `serve --no-worker`, any worker registered in the queue."""
    if rt.worker_task is not None:
        return "ok" if rt.worker_alive else "down"
    try:
        info = await asyncio.wait_for(rt.jobs.info(), CHECK_SECONDS)
    except (RedisError, OSError, TimeoutError):
        return "down"
    return "ok" if info["workers"] else "down"


async def _check(probe: object) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_SECONDS)  # type: ignore[arg-type]
    except Exception:
        return "down"
    return "ok"


async def metrics(request: Request) -> Response:
    """Prometheus metrics: deployments by status, stage durations, queue depth, latency."""
    rt = runtime(request)
    counts = dict(
        await Deployment.annotate(n=Count("seq")).group_by("status").values_list("status", "n")
    )
    for status in Status:
        rt.metrics.deployments.labels(status.value).set(counts.get(status.value, 0))
    try:
        info = await asyncio.wait_for(rt.jobs.info(), CHECK_SECONDS)
    except (RedisError, OSError, TimeoutError):
        info = {}
    for state in ("pending", "active", "scheduled"):
        if state in info:
            rt.metrics.queue.labels(state).set(info[state])
    return PlainTextResponse(rt.metrics.render(), media_type="text/plain; version=0.0.4")


async def queue_info(request: Request) -> Response:
    """Jobs waiting, running and scheduled, and the number of workers."""
    try:
        info = await asyncio.wait_for(runtime(request).jobs.info(), CHECK_SECONDS)
    except (RedisError, OSError, TimeoutError):
        raise Unavailable("Redis is unreachable", code="queue_unavailable") from None
    return JSONResponse(info)
