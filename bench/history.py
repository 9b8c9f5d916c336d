"""Cost that does not grow with history: a project with 100,000 past deployments against one
with a page of history, measured in the same run (SQLite, embedded defaults).

    .venv/bin/python bench/history.py [--deployments 100000] [--samples 30]

Prints the median latency of the history API (`?limit=50` at the newest, a middle and the
oldest cursor), the history page, the dashboard, and a new deployment's trigger, with a
history of 100 (a page's worth) vs 100,000, and the ratio (goal: within 2x).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import api, capstan_server

BASELINE = 100


def fill(database: Path, project_id: str, count: int) -> None:
    """`count` finished deployments, written straight into SQLite (the API would take hours)."""
    stages = json.dumps([{"name": "build", "status": "succeeded", "attempt": 1, "exit_code": 0}])
    pipeline = json.dumps([{"name": "build", "run": "true"}])
    trigger = json.dumps({"type": "api", "by": "bench"})
    rows = (
        (str(uuid.uuid4()), "deploy", "COMPLETED", "main", pipeline, stages, 1, trigger,
         f"releases/{n}", 2, "2026-01-01 00:00:00+00:00", project_id)
        for n in range(count)
    )  # fmt: skip
    with sqlite3.connect(database) as db:
        db.executemany(
            "INSERT INTO deployments (id, kind, status, ref, pipeline, stages, stage_index, "
            '"trigger", release, revision, created_at, project_id) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def median_ms(http: httpx.Client, method: str, path: str, samples: int, **kw: object) -> float:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        answer = http.request(method, path, **kw)  # type: ignore[arg-type]
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code < 400, (path, answer.status_code, answer.text[:200])
    return statistics.median(times)


def measure(http: httpx.Client, samples: int) -> dict[str, float]:
    page = http.get("/api/v1/projects/bench/deployments", params={"limit": 1}).json()
    newest = page["deployments"][0]["seq"] if page["deployments"] else 2
    return {
        "history ?limit=50 (newest)": median_ms(
            http, "GET", "/api/v1/projects/bench/deployments?limit=50", samples),
        "history ?limit=50 (middle cursor)": median_ms(
            http, "GET", f"/api/v1/projects/bench/deployments?limit=50&before={newest // 2 + 1}",
            samples),
        "history ?limit=50 (oldest cursor)": median_ms(
            http, "GET", "/api/v1/projects/bench/deployments?limit=50&before=60", samples),
        "project page (history)": median_ms(http, "GET", "/projects/bench", samples),
        "dashboard page": median_ms(http, "GET", "/", samples),
        "trigger (POST deployments)": median_ms(
            http, "POST", "/api/v1/projects/bench/deployments", min(samples, 10), json={}),
    }  # fmt: skip


def run(count: int, samples: int) -> dict[str, float]:
    with capstan_server(CAPSTAN_MAX_PENDING="100000") as server, api(server) as http:
        stages = [{"name": "build", "run": "true"}]
        made = http.post("/api/v1/projects", json={"name": "bench", "stages": stages})
        made.raise_for_status()
        if count:
            fill(server.data_dir / "capstan.sqlite3", made.json()["id"], count)
        return measure(http, samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deployments", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    # The baseline holds a page of history (an empty one would answer pages of nothing).
    empty = run(BASELINE, args.samples)
    full = run(args.deployments, args.samples)
    print(f"{'median latency, ms':<36} {BASELINE:>8} {f'{args.deployments:,}':>10} {'ratio':>6}")
    for name, base in empty.items():
        print(f"{name:<36} {base:>8.1f} {full[name]:>10.1f} {full[name] / base:>6.2f}")
    print("goal: every ratio within 2x")


if __name__ == "__main__":
    main()
