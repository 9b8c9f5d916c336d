"""Log ranges: `?tail=N` starts at the last N records, `?before=CURSOR` ends before one; both
for SSE and plain text, so a page can open a huge log at its end and page back through it."""

from __future__ import annotations

import json

import httpx
from conftest import Capstan
from test_logs import TICKER, read_sse

from app.cli.client import sse_events

Event = tuple[str, str, str]


async def range_sse(http: httpx.AsyncClient, dep_id: str, query: str) -> list[Event]:
    """The events of a bounded SSE read (one that ends by itself)."""
    headers = {"Accept": "text/event-stream"}
    response = await http.get(f"/api/v1/deployments/{dep_id}/logs?{query}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return list(sse_events(iter(response.text.splitlines())))


def records(events: list[Event]) -> list[Event]:
    """The events that carry a cursor (lines and stage events), without `done`."""
    return [e for e in events if e[2]]


def plain(events: list[Event]) -> list[str]:
    """What the plain-text log shows for these records."""
    shown = []
    for kind, data, _ in events:
        if kind == "log":
            shown.append(data)
        elif kind == "stage" and json.loads(data)["status"] in ("running", "awaiting_approval"):
            stage = json.loads(data)
            shown.append(f"==> {stage['name']} (attempt {stage['attempt']})")
    return shown


async def finished(capstan: Capstan, run: str) -> tuple[str, list[Event]]:
    await capstan.create_project(stages=[{"name": "count", "run": run}])
    dep = await capstan.trigger()
    await capstan.wait_for(dep["id"], "COMPLETED")
    return dep["id"], records(await range_sse(capstan.http, dep["id"], "follow=0"))


async def test_tail_starts_at_the_last_records_in_sse_and_plain_text(capstan: Capstan) -> None:
    dep_id, everything = await finished(capstan, "seq 1 3000")
    assert [int(e[2]) for e in everything] == list(range(1, len(everything) + 1))
    tail = await range_sse(capstan.http, dep_id, "tail=50&follow=0")
    assert records(tail) == everything[-50:]
    live = await read_sse_query(capstan, dep_id, "tail=50")
    assert records(live) == everything[-50:] and live[-1][0] == "done"
    text = await capstan.http.get(f"/api/v1/deployments/{dep_id}/logs?follow=0&tail=50")
    assert text.text.splitlines() == plain(everything[-50:])
    whole = await range_sse(capstan.http, dep_id, f"tail={10**17}&follow=0")
    assert records(whole) == everything


async def read_sse_query(capstan: Capstan, dep_id: str, query: str) -> list[Event]:
    """A live SSE read (it ends with `done`)."""
    headers = {"Accept": "text/event-stream"}
    url = f"/api/v1/deployments/{dep_id}/logs?{query}"
    async with capstan.http.stream("GET", url, headers=headers) as response:
        body = [line async for line in response.aiter_lines()]
    return list(sse_events(iter(body)))


async def test_before_ends_a_range_and_paging_back_covers_the_log_once(capstan: Capstan) -> None:
    dep_id, everything = await finished(capstan, "seq 1 2500")
    middle = await range_sse(capstan.http, dep_id, "after=100&before=200")
    assert records(middle) == everything[100:199]
    assert all(e[0] != "done" for e in middle), "a range is not the end of the deployment"
    text = await capstan.http.get(f"/api/v1/deployments/{dep_id}/logs?after=100&before=200")
    assert text.text.splitlines() == plain(everything[100:199])
    pages: list[Event] = []
    before = len(everything) + 1
    while before > 1:
        page = records(await range_sse(capstan.http, dep_id, f"before={before}&tail=700"))
        assert page and int(page[-1][2]) == before - 1 and len(page) <= 700
        pages = page + pages
        before = int(page[0][2])
    assert pages == everything
    assert records(await range_sse(capstan.http, dep_id, "before=1")) == []
    assert records(await range_sse(capstan.http, dep_id, "after=5&before=6")) == []


async def test_a_live_tail_follows_and_a_resume_ignores_tail(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "tick", "run": TICKER}])
    dep = await capstan.trigger()
    first = await read_sse(capstan.http, dep["id"], stop_after=20)
    last_id = records(first)[-1][2]
    headers = {"Accept": "text/event-stream", "Last-Event-ID": last_id}
    url = f"/api/v1/deployments/{dep['id']}/logs?tail=1"
    async with capstan.http.stream("GET", url, headers=headers) as response:
        rest = list(sse_events(iter([line async for line in response.aiter_lines()])))
    assert rest[-1] == ("done", '{"status": "COMPLETED"}', "")
    cursors = [int(e[2]) for e in records(first) + records(rest)]
    assert cursors == list(range(1, len(cursors) + 1))
    lines = [e[1] for e in records(first) + records(rest) if e[1].startswith("line")]
    assert lines == [f"line {i}" for i in range(1, 61)]


async def test_bad_ranges_are_a_400(capstan: Capstan) -> None:
    await capstan.create_project()
    dep = await capstan.trigger()
    for query in ("tail=x", "tail=-1", "before=1.5", f"before={10**18}", "tail=%C2%B2"):
        answer = await capstan.http.get(f"/api/v1/deployments/{dep['id']}/logs?{query}")
        assert answer.status_code == 400, query
        assert answer.json()["error"]["code"] == "bad_request"


def unbatch(events: list[Event]) -> list[Event]:
    """`lines` events (one per batch) as the `log` events they stand for."""
    out: list[Event] = []
    for kind, data, cursor in events:
        if kind != "lines":
            out.append((kind, data, cursor))
            continue
        lines = data.split("\n")
        first = int(cursor) - len(lines) + 1
        out.extend(("log", line, str(first + i)) for i, line in enumerate(lines))
    return out


async def test_batched_sse_carries_the_same_records_in_few_events(capstan: Capstan) -> None:
    dep_id, everything = await finished(capstan, "echo a; echo; echo '  c'; seq 1 30000")
    batched = await range_sse(capstan.http, dep_id, "batch=1&follow=0")
    assert len(batched) < 50 and any(e[0] == "lines" for e in batched)
    assert records(unbatch(batched)) == everything
    assert ("log", "", "3") in everything and ("log", "  c", "4") in everything
    tail = await range_sse(capstan.http, dep_id, "batch=1&before=1000&tail=10")
    assert records(unbatch(tail)) == everything[989:999]
    live = unbatch(await read_sse_query(capstan, dep_id, "batch=1&tail=5"))
    assert records(live) == everything[-5:] and live[-1][0] == "done"
