"""A log batch is stored only by the worker holding the deployment: its one-statement fence
refuses a writer whose revision or lease is stale, and stores nothing for it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from app.domain.status import Kind
from app.engine import actions, store
from app.logs.records import LogBatch
from app.models import Deployment, LogChunk, Project
from app.runtime import Runtime, running
from app.settings import Settings


@pytest.fixture
async def rt(settings: Settings) -> AsyncIterator[Runtime]:
    async with running(settings, worker=False) as runtime:
        yield runtime


async def claimed(rt: Runtime) -> Deployment:
    """A deployment of a new project, started by worker `first`."""
    project = await Project.create(id=uuid.uuid4(), name="web", webhook_secret="unused",
                                   stages=[{"name": "build", "run": "true"}])  # fmt: skip
    new = actions.NewDeployment(Kind.DEPLOY, {"type": "api", "by": "t"}, ref="main")
    dep = await Deployment.get(id=(await actions.submit(rt.engine, project, new)).id)
    assert await store.claim(dep, "first", 30)
    return dep


async def test_a_stale_worker_cannot_append_to_the_log(rt: Runtime) -> None:
    ours = await claimed(rt)
    await store.append_log(ours, LogBatch("lines", 1, 1, "one"))
    stale = await Deployment.get(id=ours.id)
    await store.save(ours, lease_holder="second")  # another worker took the deployment over
    with pytest.raises(store.LeaseLost):
        await store.append_log(stale, LogBatch("lines", 2, 2, "stale"))
    await store.append_log(ours, LogBatch("lines", 2, 2, "two"))
    stored = await LogChunk.filter(deployment_id=ours.id).order_by("first_cursor")
    assert [c.data for c in stored] == ["one", "two"]


async def test_a_parked_deployment_still_takes_its_last_lines(rt: Runtime) -> None:
    """At an approval gate the lease is given back (no holder); the sink's final flush after
    that must still be stored."""
    dep = await claimed(rt)
    await store.save(dep, lease_holder=None, lease_expires=None)
    await store.append_log(dep, LogBatch("lines", 1, 1, "last"))
    assert await LogChunk.filter(deployment_id=dep.id).count() == 1
