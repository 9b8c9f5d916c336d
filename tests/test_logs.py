"""Logs: stored in batches, streamed as SSE and plain text, resumable without loss or repeats."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import httpx
from conftest import Capstan, running_capstan

from app.cli.client import sse_events
from app.logs.bus import LogHub, publish
from app.logs.records import LogBatch
from app.models import LogChunk
from app.queue import redis_client
from app.settings import Settings

TICKER = "for i in $(seq 1 60); do echo line $i; sleep 0.02; done"


async def read_sse(
    http: httpx.AsyncClient, dep_id: str, last_id: str | None = None, stop_after: int | None = None
) -> list[tuple[str, str, str]]:
    """Events of one SSE connection; with `stop_after`, disconnect after that many log lines."""
    headers = {"Accept": "text/event-stream"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    events: list[tuple[str, str, str]] = []
    async with http.stream("GET", f"/api/v1/deployments/{dep_id}/logs", headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines: list[str] = []
        async for line in r.aiter_lines():
            lines.append(line)
            if line:
                continue
            events.extend(sse_events(iter(lines)))
            lines = []
            logs = [e for e in events if e[0] == "log"]
            if stop_after is not None and len(logs) >= stop_after:
                return events
            if events and events[-1][0] == "done":
                return events
    return events


async def test_sse_streams_lines_stage_events_and_done(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "build", "run": "echo a; echo b"}])
    dep = await capstan.trigger()
    events = await read_sse(capstan.http, dep["id"])
    kinds = [e[0] for e in events]
    assert kinds[-1] == "done" and json.loads(events[-1][1]) == {"status": "COMPLETED"}
    stages = [json.loads(e[1]) for e in events if e[0] == "stage"]
    assert stages[0] == {"name": "build", "status": "running", "attempt": 1}
    assert stages[-1] == {"name": "build", "status": "succeeded", "attempt": 1}
    assert [e[1] for e in events if e[0] == "log"][-2:] == ["a", "b"]
    ids = [int(e[2]) for e in events if e[2]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_sse_reader_that_resumes_with_last_event_id_gets_every_line_once(
    capstan: Capstan,
) -> None:
    await capstan.create_project(stages=[{"name": "tick", "run": TICKER}])
    dep = await capstan.trigger()
    first = await read_sse(capstan.http, dep["id"], stop_after=10)
    last_id = [e[2] for e in first if e[2]][-1]
    await asyncio.sleep(0.3)
    rest = await read_sse(capstan.http, dep["id"], last_id=last_id)
    lines = [e[1] for e in first + rest if e[0] == "log" and e[1].startswith("line")]
    assert lines == [f"line {i}" for i in range(1, 61)]
    by_query = await capstan.http.get(f"/api/v1/deployments/{dep['id']}/logs?after={last_id}")
    resumed = [x for x in by_query.text.splitlines() if x.startswith("line")]
    assert resumed == [f"line {i}" for i in range(11, 61)]


async def test_plain_text_follows_a_live_deployment_to_its_end(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "tick", "run": TICKER}])
    dep = await capstan.trigger()
    response = await capstan.http.get(f"/api/v1/deployments/{dep['id']}/logs")
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert lines[0] == "==> tick (attempt 1)"
    assert [x for x in lines if x.startswith("line")] == [f"line {i}" for i in range(1, 61)]
    assert (await capstan.deployment(dep["id"]))["status"] == "COMPLETED"


async def test_follow_zero_returns_what_exists_now(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "wait", "run": "echo first; sleep 30"}])
    dep = await capstan.trigger()
    await capstan.wait_for(dep["id"], "IN_PROGRESS")
    deadline = time.monotonic() + 10
    while "first" not in (text := await capstan.log(dep["id"])):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert text.endswith("first\n")
    await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")


async def test_bad_cursor_is_a_400(capstan: Capstan) -> None:
    await capstan.create_project()
    dep = await capstan.trigger()
    response = await capstan.http.get(f"/api/v1/deployments/{dep['id']}/logs?after=x")
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"
    missing = await capstan.http.get("/api/v1/deployments/nope/logs")
    assert missing.status_code == 404


async def test_long_lines_are_split_and_invalid_utf8_is_replaced(capstan: Capstan) -> None:
    script = "head -c 150000 /dev/zero | tr '\\0' x; echo; printf 'bad \\xff\\xfe end\\n'"
    await capstan.create_project(stages=[{"name": "weird", "run": script}])
    dep = await capstan.trigger()
    await capstan.wait_for(dep["id"], "COMPLETED")
    lines = (await capstan.log(dep["id"])).splitlines()
    xs = [line for line in lines if line.startswith("x")]
    assert [len(x) for x in xs] == [65536, 65536, 150000 - 2 * 65536]
    assert "bad \ufffd\ufffd end" in lines


async def test_a_million_lines_become_few_rows_and_the_api_stays_responsive(
    capstan: Capstan,
) -> None:
    await capstan.create_project(stages=[{"name": "flood", "run": "seq 1 1000000"}])
    dep = await capstan.trigger()
    await capstan.wait_for(dep["id"], "IN_PROGRESS")
    started = time.monotonic()
    health = await capstan.http.get("/healthz")
    assert health.status_code == 200 and time.monotonic() - started < 5
    await capstan.wait_for(dep["id"], "COMPLETED", timeout=90)
    rows = await LogChunk.filter(deployment_id=dep["id"]).count()
    assert rows < 2000
    text = await capstan.log(dep["id"])
    numbers = [line for line in text.splitlines() if line.isdigit()]
    assert numbers[0] == "1" and numbers[-1] == "1000000" and len(numbers) == 1_000_000


async def test_log_past_the_limit_is_truncated_while_the_stage_goes_on(settings: Settings) -> None:
    small = dataclasses.replace(settings, max_log_bytes=10_000)
    async with running_capstan(small) as capstan:
        await capstan.create_project(
            stages=[{"name": "loud", "run": "seq 1 20000; echo > $CAPSTAN_CACHE_DIR/finished"}]
        )
        dep = await capstan.trigger()
        await capstan.wait_for(dep["id"], "COMPLETED")
        text = await capstan.log(dep["id"])
        assert len(text) < 12_000
        assert "[capstan] log truncated at 10000 bytes" in text
        assert (small.projects_dir / "web" / "cache" / "finished").exists()


async def test_a_batch_published_in_the_process_reaches_its_viewers_once(
    settings: Settings,
) -> None:
    """Published here, a batch goes to this process's viewers directly; its copy read back
    from Redis is dropped, and batches published elsewhere still come through Redis."""
    local, remote = redis_client(settings.redis_url), redis_client(settings.redis_url)
    hub = LogHub(local)
    first, second, third = (LogBatch("lines", n, n, f"line {n}") for n in (1, 2, 3))
    try:
        async with hub.subscribe("dep-local") as queue:
            await publish(local, "dep-local", first)
            await publish(local, "dep-local", second)
            assert [queue.get_nowait(), queue.get_nowait()] == [first, second]
            await publish(remote, "dep-local", third)
            assert await asyncio.wait_for(queue.get(), 10) == third
            assert queue.empty()
    finally:
        await hub.close()
        await local.aclose()
        await remote.aclose()
