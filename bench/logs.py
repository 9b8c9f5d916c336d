"""(b) A stage printing 1,000,000 lines, end to end to one live SSE reader, in lines/s; then
a late viewer reading the finished log over SSE (with `?batch=1` and without) and plain text.

The baseline is `seq` writing the same output into a file, measured in the same run.
Goals: at least 250,000 lines/s live; at least 1,000,000 lines/s for the late viewer.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import api, capstan_server

LINES = 1_000_000
SCRIPT = f"seq 1 {LINES}"


def baseline() -> float:
    with tempfile.NamedTemporaryFile() as out:
        begin = time.perf_counter()
        subprocess.run(["bash", "-c", f"{SCRIPT} > {out.name}"], check=True)
        return LINES / (time.perf_counter() - begin)


def follow(http: httpx.Client, project: str) -> tuple[float, int]:
    """Trigger `project` and read its log live over SSE: (seconds, log events received)."""
    seconds, events, _ = follow_new(http, project)
    return seconds, events


def follow_new(http: httpx.Client, project: str) -> tuple[float, int, str]:
    """`follow`, and the new deployment's id."""
    begin = time.perf_counter()
    dep = http.post(f"/api/v1/projects/{project}/deployments", json={}).json()
    events = 0
    headers = {"Accept": "text/event-stream"}
    with http.stream("GET", f"/api/v1/deployments/{dep['id']}/logs", headers=headers) as r:
        tail = b""
        for chunk in r.iter_raw():
            data = tail + chunk
            events += data.count(b"\nevent: log\n")
            tail = data[-16:]
            events -= tail.count(b"\nevent: log\n")
            if b"event: done" in data:
                break
    return time.perf_counter() - begin, events, str(dep["id"])


def late(http: httpx.Client, dep_id: str, query: str, sse: bool) -> tuple[float, int]:
    """Read the finished log once: (seconds, lines received)."""
    headers = {"Accept": "text/event-stream"} if sse else {}
    begin = time.perf_counter()
    lines = 0
    with http.stream("GET", f"/api/v1/deployments/{dep_id}/logs{query}", headers=headers) as r:
        tail = b""
        for chunk in r.iter_raw():
            data = tail + chunk
            lines += data.count(b"\ndata: " if sse else b"\n")
            tail = data[-8:] if sse else b""
            lines -= tail.count(b"\ndata: ") if sse else 0
    return time.perf_counter() - begin, lines


LATE = [("SSE, ?batch=1", "?batch=1", True), ("SSE", "", True), ("plain text", "", False)]


def main() -> None:
    with (
        capstan_server() as server,
        api(server, 120) as http,
    ):
        stages = [{"name": "flood", "run": SCRIPT}]
        http.post("/api/v1/projects", json={"name": "bench", "stages": stages}).raise_for_status()
        elapsed, events, dep_id = follow_new(http, "bench")
        reads = [(name, *late(http, dep_id, query, sse)) for name, query, sse in LATE]
    rate = LINES / elapsed
    base = baseline()
    print(
        f"1,000,000 lines to one live SSE reader: {elapsed:.2f} s, {rate:,.0f} lines/s "
        f"(goal >= 250,000), {events:,} log events received"
    )
    print(f"  baseline, {SCRIPT} > file: {base:,.0f} lines/s; ratio {rate / base:.3f}")
    print("a late viewer of the finished log (goal >= 1,000,000 lines/s):")
    for name, seconds, lines in reads:
        print(f"  {name}: {seconds:.2f} s, {lines / seconds:,.0f} lines/s ({lines:,} lines)")


if __name__ == "__main__":
    main()
