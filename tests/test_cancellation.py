"""A task cancelled at any await of a database write leaves the database usable and the write
whole or absent: no leaked lock or connection, no half-written delivery, log or audit chain."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from app.accounts import audit
from app.domain.masker import Masker
from app.domain.status import Kind, Status
from app.engine import actions, deliveries, store
from app.forges.push import Push
from app.logs.records import LogBatch
from app.logs.sink import LogSink
from app.models import AuditEvent, Delivery, Deployment, LogChunk, Project
from app.runtime import Runtime, running
from app.settings import Settings

Write = Callable[[], Coroutine[Any, Any, object]]


@pytest.fixture
async def rt(settings: Settings) -> AsyncIterator[Runtime]:
    async with running(settings, worker=False) as runtime:
        yield runtime


async def cancel_at_each_await(write: Write, check: Callable[[], Awaitable[None]]) -> int:
    """Run `write` again and again, cancelling run k at its k-th suspension (k = 1, 2, ...)
    until a run ends before its cancellation; `check` the database after every run.

    A suspension is a new future the task waits on (`Task._fut_waiter`, CPython's own
    bookkeeping): each await that gives the loop a turn."""
    k = 1
    while True:
        task = asyncio.create_task(write())
        seen, waiter = 0, None
        while not task.done():
            current = task._fut_waiter  # type: ignore[attr-defined]
            if current is not None and current is not waiter:
                waiter, seen = current, seen + 1
                if seen == k:
                    task.cancel()
                    break
            await asyncio.sleep(0)
        await asyncio.wait({task})
        await asyncio.wait_for(usable(), 10)
        await asyncio.wait_for(check(), 10)
        if not task.cancelled():
            task.result()
            return k
        k += 1


async def usable() -> None:
    """No lock or connection leaked: a write transaction and a read both go through. (The
    lock may be held for a moment by the notifications a write sets off in the background;
    a leaked one is never released.)"""
    client = connections.get("default")
    lock = getattr(client, "_lock", asyncio.Lock())
    for _ in range(100):
        if not lock.locked():
            break
        await asyncio.sleep(0.02)
    assert not lock.locked(), "SQLite lock leaked"
    async with in_transaction():
        await Project.filter(name="__none__").update(keep_releases=1)
    await Project.all().count()


async def new_project(name: str = "web") -> Project:
    return await Project.create(
        id=uuid.uuid4(),
        name=name,
        stages=[{"name": "build", "run": "true"}],
        webhook_secret="unused",
        concurrency="queue",
    )


def new_deployment(project: Project) -> actions.NewDeployment:
    return actions.NewDeployment(Kind.DEPLOY, {"type": "api", "by": "t"}, ref="main")


async def test_cancelling_a_raw_transaction_never_leaks_the_connection(rt: Runtime) -> None:
    async def write() -> None:
        async with in_transaction():
            await new_project(f"p{uuid.uuid4().hex[:8]}")

    async def check() -> None:
        pass

    assert await cancel_at_each_await(write, check) >= 1


async def test_cancelled_triggers_store_a_whole_deployment_or_none(rt: Runtime) -> None:
    project = await new_project()

    async def write() -> None:
        await actions.submit(rt.engine, project, new_deployment(project))

    async def check() -> None:
        for dep in await Deployment.filter(project_id=project.id):
            assert dep.status == Status.PENDING.value and len(dep.stages) == 1

    await cancel_at_each_await(write, check)


async def test_cancelled_state_writes_keep_the_row_consistent(rt: Runtime) -> None:
    project = await new_project()
    dep = await actions.submit(rt.engine, project, new_deployment(project))

    async def write() -> None:
        fresh = await Deployment.get(id=dep.id)
        if fresh.status == Status.PENDING.value:
            assert await store.claim(fresh, "t", 30)
        await store.renew(fresh, 30)
        await store.append_log(fresh, LogBatch("lines", 1, 1, "x"))
        await store.complete(fresh)
        await store.release_slot(fresh)

    async def check() -> None:
        row = await Deployment.get(id=dep.id)
        chunks = await LogChunk.filter(deployment_id=dep.id).count()
        assert chunks <= 1
        if row.status == Status.COMPLETED.value:
            project_row = await Project.get(id=project.id)
            assert project_row.current_deployment_id == dep.id and chunks == 1
        # A run cancelled after its log write leaves the next run to fail the unique key:
        # start each run from a clean log.
        await LogChunk.filter(deployment_id=dep.id).delete()

    await cancel_at_each_await(write, check)


async def test_cancelled_deliveries_are_recorded_whole_or_not_at_all(rt: Runtime) -> None:
    project = await new_project()
    count = 0

    async def write() -> None:
        nonlocal count
        count += 1
        push = Push(
            "github",
            f"d-{count}",
            "push",
            ref="refs/heads/main",
            commit="a" * 40,
            pusher="alice",
            paths=("x",),
            repository="acme/web",
        )
        await deliveries.receive(rt.engine, project, push, 100)

    async def check() -> None:
        for delivery in await Delivery.filter(project_id=project.id):
            assert delivery.deployment_id is not None
            dep = await Deployment.get(id=delivery.deployment_id)
            assert dep.trigger["delivery"] == delivery.delivery_id
            assert await AuditEvent.filter(target=str(dep.id)).exists()
        assert (
            await Deployment.filter(project_id=project.id).count()
            == await Delivery.filter(project_id=project.id).count()
        )

    await cancel_at_each_await(write, check)


async def test_cancelled_audit_appends_never_break_the_chain(rt: Runtime) -> None:
    async def write() -> None:
        await audit.record(audit.Actor("alice", "user"), "project.update", project="web")

    async def check() -> None:
        _, broken, why = await audit.verify()
        assert broken is None, why

    await cancel_at_each_await(write, check)


async def test_cancelled_log_flushes_never_reuse_a_cursor(rt: Runtime) -> None:
    """The timer and the runner both flush; a cancelled flush must still move the cursor past
    what it stored, or the next flush collides with it (the duplicate chunk of issue 8)."""
    project = await new_project()
    dep = await actions.submit(rt.engine, project, new_deployment(project))
    dep = await Deployment.get(id=dep.id)
    assert await store.claim(dep, "t", 60)
    published: list[LogBatch] = []

    async def append(batch: LogBatch) -> None:
        await store.append_log(dep, batch)

    async def publish(batch: LogBatch) -> None:
        await asyncio.sleep(0)
        published.append(batch)

    last, size = await store.log_position(str(dep.id))
    sink = LogSink(
        last_cursor=last, stored_bytes=size, max_bytes=1 << 20, store=append,
        publish=publish, masker=Masker(),
    )  # fmt: skip

    async def write() -> None:
        await sink.write(b"one\ntwo\n")
        await sink.stage("build", "running", 1)
        await sink.say("three")
        await sink.flush()

    async def check() -> None:
        cursors = (
            await LogChunk.filter(deployment_id=dep.id)
            .order_by("first_cursor")
            .values_list("first_cursor", "last_cursor")
        )
        expected = 1
        for first, final in cursors:
            assert first == expected, cursors
            expected = final + 1

    await cancel_at_each_await(write, check)
    await sink.flush()
    await check()
