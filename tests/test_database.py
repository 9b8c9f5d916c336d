"""A database that stops answering: requests get a clear 503 within seconds, never a hang."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from conftest import Capstan, eventually
from tortoise import connections

from app.settings import Settings


async def connection_busy() -> bool:
    return bool(connections.get("default")._lock.locked())


@pytest.mark.sqlite_only
async def test_a_locked_database_answers_503_within_seconds_and_then_recovers(
    capstan: Capstan, settings: Settings
) -> None:
    await capstan.create_project("web")
    # Another process takes SQLite's write lock and keeps it.
    holder = sqlite3.connect(settings.database_url.removeprefix("sqlite://"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        triggers = asyncio.gather(
            *(capstan.http.post("/api/v1/projects/web/deployments") for _ in range(4))
        )
        # Once a write waits on the file lock, everything behind Capstan's connection waits.
        await eventually(connection_busy, timeout=10)
        ready = await capstan.http.get("/readyz")
        answers = await triggers
        took = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "database_unavailable"
        assert answer.headers["retry-after"]
    assert ready.status_code == 503 and ready.json()["checks"]["database"] == "down"
    assert took < 25
    assert (await capstan.http.get("/readyz")).status_code == 200
    dep = await capstan.trigger("web")
    await capstan.wait_for(dep["id"], "COMPLETED")
