"""Log endpoints: Server-Sent Events for browsers and scripts, plain text for `curl -N`.

Both take a range where the contract is silent: `?tail=N` starts at the last N records (lines
and stage events) instead of the first, and `?before=CURSOR` ends the read before that cursor
(what is stored, never followed; an SSE range ends without `done`, the deployment has not).
A resume (`Last-Event-ID`) ignores `tail`: the client has every record up to its cursor, and
gets every one after it. So a page opens a million-line log at its end
(`?tail=1000`), pages back (`?before=FIRST&tail=1000`), and reconnects without a hole.

SSE with `?batch=1` sends consecutive lines as one event `lines` (one `data:` line per log
line, `id` the cursor of the last): a browser dispatching an event per line of a flood would
spend seconds on it, frozen. Stage events and `done` are as without it.
"""

from __future__ import annotations

import json
import re
import time
import weakref
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.domain.access import Permission
from app.errors import AppError, BadRequest
from app.logs.reader import follow, tail_start
from app.logs.records import LogBatch, stage_marker, terminal_safe
from app.web.context import runtime
from app.web.guard import check
from app.web.lookup import find_deployment

PING_SECONDS = 15
CURSOR = re.compile(r"[0-9]{1,18}")
RECHECK_SECONDS = 5
# How soon a browser's EventSource reconnects after the stream drops (a restart, a proxy).
RETRY_MS = 1000


async def deployment_logs(request: Request) -> Response:
    """A deployment's log: SSE with `Accept: text/event-stream`, else plain text that follows
    a live deployment to its end (`?follow=0`: what exists now)."""
    dep, _project = await find_deployment(request)
    after = _cursor(request)
    before = _number(request, "before")
    tail = _number(request, "tail")
    if tail is not None and not request.headers.get("last-event-id"):
        after = max(after, await tail_start(str(dep.id), tail, before))
    hub = runtime(request).hub
    if "text/event-stream" in request.headers.get("accept", ""):
        reader = follow(str(dep.id), after, hub, before=before)
        batches = _while_allowed(request, reader)
        batched = request.query_params.get("batch", "0") not in ("0", "false", "no")
        return EventSourceResponse(_sse(batches, batched), ping=PING_SECONDS, send_timeout=30)
    live = request.query_params.get("follow", "1").lower() not in ("0", "false", "no")
    reader = follow(str(dep.id), after, hub, live=live, before=before)
    batches = _while_allowed(request, reader)
    return StreamingResponse(_plain(batches), media_type="text/plain; charset=utf-8")


async def _while_allowed(
    request: Request, batches: AsyncIterator[LogBatch]
) -> AsyncIterator[LogBatch]:
    """End the stream soon after the reader loses access (signed out, disabled, removed)."""
    checked = time.monotonic()
    async for batch in batches:
        if time.monotonic() - checked > RECHECK_SECONDS:
            try:
                await check(request, Permission.PROJECT_VIEW)
            except AppError:
                return
            checked = time.monotonic()
        if batch.kind != "tick":
            yield batch


def _cursor(request: Request) -> int:
    """`Last-Event-ID` or `after`: ASCII digits only (`str.isdigit` also takes "²", which
    `int` refuses), and at most 18 of them, so the cursor fits a database BIGINT."""
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    if not CURSOR.fullmatch(raw):
        raise BadRequest("Last-Event-ID and after must be a log cursor (an integer)")
    return int(raw)


def _number(request: Request, name: str) -> int | None:
    """`tail` or `before`: a count or a cursor, ASCII digits as for `after`."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not CURSOR.fullmatch(raw):
        raise BadRequest(f"{name} must be a whole number of at most 18 digits")
    return int(raw)


async def _sse(batches: AsyncIterator[LogBatch], batched: bool) -> AsyncIterator[bytes]:
    """One pre-rendered block of events per batch: a million lines are not a million sends
    (and, `batched`, not a million events either)."""
    yield f"retry: {RETRY_MS}\n\n".encode()
    rendered = _RENDERED[batched]
    async for batch in batches:
        block = rendered.get(batch)
        if block is None:
            block = rendered[batch] = _sse_block(batch, batched)
        yield block


# Every live viewer of a deployment is handed the same batch object by the log hub, so each
# batch is rendered once, not once per viewer; an entry goes when no viewer holds its batch.
_RENDERED: dict[bool, weakref.WeakKeyDictionary[LogBatch, bytes]] = {
    True: weakref.WeakKeyDictionary(),
    False: weakref.WeakKeyDictionary(),
}


def _sse_block(batch: LogBatch, batched: bool) -> bytes:
    if batch.kind == "lines" and batched:
        lines = batch.data.replace("\n", "\ndata: ")
        return f"id: {batch.last}\nevent: lines\ndata: {lines}\n\n".encode()
    if batch.kind == "lines":
        cursor = batch.first
        parts = []
        for line in batch.lines():
            parts.append(f"id: {cursor}\nevent: log\ndata: {line}\n\n")
            cursor += 1
        return "".join(parts).encode()
    if batch.kind == "stage":
        return f"id: {batch.first}\nevent: stage\ndata: {batch.data}\n\n".encode()
    status = json.dumps({"status": batch.data})
    return f"event: done\ndata: {status}\n\n".encode()


async def _plain(batches: AsyncIterator[LogBatch]) -> AsyncIterator[bytes]:
    """Lines as they are, but control characters (tabs stay) shown as escapes: this stream
    goes to terminals (`curl -N`, `capstan logs`)."""
    async for batch in batches:
        if batch.kind == "lines":
            yield (terminal_safe(batch.data) + "\n").encode()
        elif batch.kind == "stage":
            event = batch.event()
            if event["status"] in ("running", "awaiting_approval"):
                yield (stage_marker(event) + "\n").encode()
