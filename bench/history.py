"""Cost that does not grow with history: a project with 100,000 past deployments and 10 GB of
stored logs against one with a page of history, measured in the same run (SQLite, embedded
defaults).

    .venv/bin/python bench/history.py [--deployments 100000] [--log-gb 10] [--samples 30]

Prints the median latency of the history API (`?limit=50` at the newest, a middle and the
oldest cursor), the history page, the dashboard, a new deployment's trigger, and the first
page of an old deployment's stored log, with a history of 100 (a page's worth, with their
share of logs) vs 100,000, and the ratio (goal: within 2x). The logs are spread evenly, one
chunk per deployment (10 GB over 100,000: about 105 KB each).
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


def fill(database: Path, project_id: str, count: int, log_bytes: int) -> list[str]:
    """`count` finished deployments, written straight into SQLite (the API would take hours),
    with a log chunk each of `log_bytes`; returns their ids, oldest first."""
    stages = json.dumps([{"name": "build", "status": "succeeded", "attempt": 1, "exit_code": 0}])
    pipeline = json.dumps([{"name": "build", "run": "true"}])
    trigger = json.dumps({"type": "api", "by": "bench"})
    ids = [str(uuid.uuid4()) for _ in range(count)]
    rows = (
        (dep_id, "deploy", "COMPLETED", "main", pipeline, stages, 1, trigger,
         f"releases/{n}", 2, "2026-01-01 00:00:00+00:00", project_id)
        for n, dep_id in enumerate(ids)
    )  # fmt: skip
    with sqlite3.connect(database) as db:
        db.executemany(
            "INSERT INTO deployments (id, kind, status, ref, pipeline, stages, stage_index, "
            '"trigger", release, revision, created_at, project_id) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    if log_bytes:
        fill_logs(database, ids, log_bytes)
    return ids


def fill_logs(database: Path, ids: list[str], size: int) -> None:
    """One `lines` chunk of `size` bytes (lines of 100 characters) per deployment, in
    transactions of 1,000, the WAL truncated after each so it does not double the disk used."""
    line = "x" * 99
    lines = size // 100
    data = "\n".join([line] * lines)
    with sqlite3.connect(database, isolation_level=None) as db:
        for start in range(0, len(ids), 1000):
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO log_chunks (deployment_id, kind, first_cursor, last_cursor, data) "
                "VALUES (?, 'lines', 1, ?, ?)",
                ((dep_id, lines, data) for dep_id in ids[start : start + 1000]),
            )
            db.execute("COMMIT")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def median_ms(http: httpx.Client, method: str, path: str, samples: int, **kw: object) -> float:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        answer = http.request(method, path, **kw)  # type: ignore[arg-type]
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code < 400, (path, answer.status_code, answer.text[:200])
    return statistics.median(times)


def measure(http: httpx.Client, samples: int, old: str | None) -> dict[str, float]:
    page = http.get("/api/v1/projects/bench/deployments", params={"limit": 1}).json()
    newest = page["deployments"][0]["seq"] if page["deployments"] else 2
    logs = {}
    if old is not None:
        logs["an old deployment's log (plain text)"] = median_ms(
            http, "GET", f"/api/v1/deployments/{old}/logs?follow=0", samples)  # fmt: skip
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
        **logs,
    }  # fmt: skip


def run(count: int, samples: int, log_bytes: int) -> tuple[dict[str, float], float]:
    """The figures, and the size of the database file in GB."""
    with capstan_server(CAPSTAN_MAX_PENDING="100000") as server, api(server) as http:
        stages = [{"name": "build", "run": "true"}]
        made = http.post("/api/v1/projects", json={"name": "bench", "stages": stages})
        made.raise_for_status()
        database = server.data_dir / "capstan.sqlite3"
        ids = fill(database, made.json()["id"], count, log_bytes)
        figures = measure(http, samples, ids[count // 10] if log_bytes else None)
        return figures, database.stat().st_size / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deployments", type=int, default=100_000)
    parser.add_argument("--log-gb", type=float, default=10.0, help="stored logs in all")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    log_bytes = int(args.log_gb * 1e9 / args.deployments)
    # The baseline holds a page of history (an empty one would answer pages of nothing).
    empty, small = run(BASELINE, args.samples, log_bytes)
    started = time.monotonic()
    full, large = run(args.deployments, args.samples, log_bytes)
    print(
        f"database: {small:.3f} GB vs {large:.1f} GB (logs {log_bytes:,} bytes per deployment; "
        f"filling and measuring the large one took {time.monotonic() - started:.0f} s)"
    )
    print(f"{'median latency, ms':<40} {BASELINE:>8} {f'{args.deployments:,}':>10} {'ratio':>6}")
    for name, base in empty.items():
        print(f"{name:<40} {base:>8.1f} {full[name]:>10.1f} {full[name] / base:>6.2f}")
    print("goal: every ratio within 2x")


if __name__ == "__main__":
    main()
