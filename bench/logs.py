"""(b) A stage printing 1,000,000 lines, end to end to one live SSE reader, in lines/s.

The baseline is `seq` writing the same output into a file, measured in the same run.
Goal: at least 250,000 lines/s.
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
    return time.perf_counter() - begin, events


def main() -> None:
    with (
        capstan_server() as server,
        api(server, 120) as http,
    ):
        stages = [{"name": "flood", "run": SCRIPT}]
        http.post("/api/v1/projects", json={"name": "bench", "stages": stages}).raise_for_status()
        elapsed, events = follow(http, "bench")
    rate = LINES / elapsed
    base = baseline()
    print(
        f"1,000,000 lines to one live SSE reader: {elapsed:.2f} s, {rate:,.0f} lines/s "
        f"(goal >= 250,000), {events:,} log events received"
    )
    print(f"  baseline, {SCRIPT} > file: {base:,.0f} lines/s; ratio {rate / base:.3f}")


if __name__ == "__main__":
    main()
