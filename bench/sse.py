"""(f) 1,000 SSE viewers of one live deployment printing 10 lines/s: delivery latency and RSS.

The stage prints its clock (`date +%s.%N`) ten times a second; each viewer compares every
line it receives with its own clock. Figures are taken in the steady state, after every
viewer is connected. The baseline, measured in the same run with the same client, is a bare
sse-starlette broadcaster (a tiny Starlette app in a subprocess) sending the same lines to
as many viewers. The client runs in this process, the servers in their own.
Goals: p99 at most twice the baseline's, server RSS under 400 MB.

`.venv/bin/python bench/sse.py [VIEWERS]`
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import api, capstan_server, free_port, percentile

VIEWERS = 1000
RATE = 10
WARMUP_SECONDS = 3.0
MEASURE_SECONDS = 15.0
CONNECT_SECONDS = 120.0
STAGE_SECONDS = int(CONNECT_SECONDS + WARMUP_SECONDS + MEASURE_SECONDS + 30)
STAGE = (
    f"end=$(( $(date +%s) + {STAGE_SECONDS} )); "
    f"while [ $(date +%s) -lt $end ]; do date +%s.%N; sleep {1 / RATE}; done"
)


@dataclass
class Run:
    """What the viewers saw: connected count and (sent, received) clock pairs."""

    connected: int = 0
    failed: int = 0
    samples: list[float] = field(default_factory=list)
    since: float = float("inf")
    until: float = float("inf")
    cpu: float = 0.0
    first: dict[float, float] = field(default_factory=dict)


async def viewer(port: int, path: str, headers: dict[str, str], run: Run) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        run.failed += 1
        return
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{extra}\r\n"
    writer.write(request.encode())
    try:
        status = await reader.readline()
        if b" 200 " not in status:
            run.failed += 1
            return
        run.connected += 1
        async for line in _lines(reader):
            if not line.startswith(b"data: "):
                continue
            now = time.time()
            try:
                sent = float(line[6:])
            except ValueError:
                continue
            if run.since <= sent < run.until:
                run.samples.append(now - sent)
                run.first[sent] = min(run.first.get(sent, now - sent), now - sent)
            if sent >= run.until:
                return
    except (OSError, asyncio.IncompleteReadError):
        run.failed += 1
    finally:
        writer.close()


async def _lines(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        line = await reader.readline()
        if not line:
            return
        yield line.rstrip(b"\r\n")


async def watch(pid: int, port: int, path: str, headers: dict[str, str], viewers: int) -> Run:
    """Connect `viewers`, wait until all are in, then measure for MEASURE_SECONDS (and the
    server's CPU seconds meanwhile)."""
    run = Run()
    tasks = []
    for _ in range(viewers):
        tasks.append(asyncio.create_task(viewer(port, path, headers, run)))
        await asyncio.sleep(0.002)
    deadline = time.monotonic() + CONNECT_SECONDS
    while run.connected + run.failed < viewers and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    run.since = time.time() + WARMUP_SECONDS
    run.until = run.since + MEASURE_SECONDS
    await asyncio.sleep(WARMUP_SECONDS)
    begin = cpu_seconds(pid)
    await asyncio.sleep(MEASURE_SECONDS)
    run.cpu = cpu_seconds(pid) - begin
    await asyncio.wait(tasks, timeout=30)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return run


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def watch_with_rss(
    pid: int, port: int, path: str, headers: dict[str, str], viewers: int
) -> tuple[Run, float]:
    task = asyncio.create_task(watch(pid, port, path, headers, viewers))
    peak = 0.0
    while not task.done():
        peak = max(peak, rss_mb(pid))
        await asyncio.sleep(0.5)
    return task.result(), peak


def report(name: str, run: Run, rss: float) -> tuple[float, float]:
    ms = [x * 1000 for x in run.samples] or [float("nan")]
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    print(
        f"{name}: {run.connected} viewers connected ({run.failed} failed), "
        f"{len(run.samples):,} deliveries measured: p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
        f"server RSS peak {rss:.0f} MB, server CPU {100 * run.cpu / MEASURE_SECONDS:.0f}% "
        f"({1e6 * run.cpu / max(1, len(run.samples)):.0f} us per delivery)"
    )
    first = [x * 1000 for x in run.first.values()] or [float("nan")]
    print(
        f"  the first viewer to get each line: p50 {percentile(first, 50):.0f} ms, "
        f"p99 {percentile(first, 99):.0f} ms (the rest is the fan-out)"
    )
    return p50, p99


def capstan(viewers: int) -> tuple[Run, float]:
    with capstan_server() as server, api(server, 60) as http:
        stages = [{"name": "clock", "run": STAGE}]
        http.post("/api/v1/projects", json={"name": "bench", "stages": stages}).raise_for_status()
        dep = http.post("/api/v1/projects/bench/deployments", json={}).json()
        port = int(server.url.rsplit(":", 1)[1])
        path = f"/api/v1/deployments/{dep['id']}/logs"
        result = asyncio.run(watch_with_rss(server.proc.pid, port, path, server.headers, viewers))
        http.post(f"/api/v1/deployments/{dep['id']}/cancel")
        return result


def bare(viewers: int) -> tuple[Run, float]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--bare", str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return asyncio.run(watch_with_rss(proc.pid, port, "/logs", {}, viewers))
    finally:
        proc.terminate()
        proc.wait(30)


def serve_bare(port: int) -> None:
    """The baseline: one task prints the clock ten times a second to every viewer's queue."""
    import uvicorn
    from sse_starlette import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    queues: set[asyncio.Queue[tuple[int, str]]] = set()

    async def clock() -> None:
        cursor = 0
        while True:
            cursor += 1
            line = f"{time.time():.6f}"
            for queue in queues:
                queue.put_nowait((cursor, line))
            await asyncio.sleep(1 / RATE)

    async def logs(request: Request) -> Response:
        async def events() -> AsyncIterator[dict[str, str]]:
            queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
            queues.add(queue)
            try:
                while True:
                    cursor, line = await queue.get()
                    yield {"id": str(cursor), "event": "log", "data": line}
            finally:
                queues.discard(queue)

        return EventSourceResponse(events(), ping=15, send_timeout=30)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(clock())
        yield
        task.cancel()

    app = Starlette(routes=[Route("/logs", logs), Route("/healthz", healthz)], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning",
                timeout_graceful_shutdown=1)  # fmt: skip


def main() -> None:
    viewers = int(sys.argv[1]) if len(sys.argv) > 1 else VIEWERS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * viewers + 1024)), hard))
    print(f"{viewers} SSE viewers of one live deployment printing {RATE} lines/s")
    run, rss = capstan(viewers)
    c50, c99 = report("capstan", run, rss)
    base_run, base_rss = bare(viewers)
    b50, b99 = report("baseline, bare sse-starlette broadcaster", base_run, base_rss)
    print(
        f"ratio capstan/baseline: p50 {c50 / b50:.1f}x, p99 {c99 / b99:.1f}x (goal p99 <= 2x); "
        f"RSS {rss:.0f} MB (goal < 400 MB)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--bare":
        serve_bare(int(sys.argv[2]))
    else:
        main()
