"""Queue throughput: no-op deployments end to end across many projects, with 1, 2 and 4 worker
processes on one PostgreSQL and one Redis, against SAQ's own no-op jobs on the same Redis.

    .venv/bin/python bench/throughput.py [--projects 100] [--per-project 3] [--workers 1 2 4]
        [--concurrency 8] [--database postgres://postgres@127.0.0.1:5432/postgres]

Each run gets a fresh database and Redis: `capstan serve` (its worker is the first) plus
`capstan worker` processes, 100 projects whose one stage runs `true`, and every deployment
triggered at once. While it runs, it asserts the guarantees from the database ten times a
second: no project has two deployments in progress or holding its slot; after it, that every
triggered deployment completed, none is extra, every stage ran once, and no two deployments
of a project overlapped. The scratch database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import admin_headers, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.bundled_redis import redis_executable

KEY = "ab" * 32


@contextlib.contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [redis_executable(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(0.3)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait()


async def fresh_database(url: str) -> str:
    name = f"capstan_bench_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(_dsn(url))
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    return url.rsplit("/", 1)[0] + "/" + name


async def drop_database(url: str, scratch: str) -> None:
    connection = await asyncpg.connect(_dsn(url))
    await connection.execute(f'DROP DATABASE IF EXISTS "{scratch.rsplit("/", 1)[1]}" WITH (FORCE)')
    await connection.close()


def start(tmp: Path, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "app.cli", *args], env=env, stdout=log,
                            stderr=log)  # fmt: skip


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(log.read_text())
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"not ready:\n{log.read_text()}")


TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "ROLLED_BACK")


async def drive(
    url: str, headers: dict[str, str], database: str, projects: int, per_project: int
) -> dict[str, Any]:
    """Create the projects, trigger everything at once, wait; check the guarantees.

    Progress is read from the database (not the API, which would load the server measured),
    ten times a second, and each read asserts that no project has two deployments running."""
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
        for i in range(projects):
            made = await http.post("/api/v1/projects", json={
                "name": f"p{i}", "stages": [{"name": "noop", "run": "true"}]})  # fmt: skip
            made.raise_for_status()
        limits = asyncio.Semaphore(50)

        async def trigger(project: str) -> str:
            async with limits:
                answer = await http.post(f"/api/v1/projects/{project}/deployments", json={})
                answer.raise_for_status()
                return str(answer.json()["id"])

        db = await asyncpg.connect(_dsn(database))
        try:
            watching = asyncio.create_task(_watch(db, projects * per_project))
            started = time.monotonic()
            ids = await asyncio.gather(*(trigger(f"p{i % projects}")
                                         for i in range(projects * per_project)))  # fmt: skip
            checks = await watching
            elapsed = time.monotonic() - started
            rows = await db.fetch(
                "SELECT id::text, project_id::text AS project, status, started_at, finished_at, "
                "stages::text FROM deployments"
            )
        finally:
            await db.close()
    done = {row["id"]: row for row in rows}
    assert set(done) == set(ids), "a triggered deployment went missing, or one more ran"
    assert all(d["status"] == "COMPLETED" for d in done.values()), "a no-op deployment failed"
    attempts = [stage["attempt"] for d in done.values() for stage in json.loads(d["stages"])]
    assert set(attempts) == {1}, "a stage ran twice"
    by_project: dict[str, list[tuple[datetime, datetime]]] = {}
    for dep in done.values():
        by_project.setdefault(dep["project"], []).append((dep["started_at"], dep["finished_at"]))
    for spans in by_project.values():
        spans.sort()
        for (_, end), (begin, _) in itertools.pairwise(spans):
            assert begin >= end, "two deployments of one project ran at once"
    return {"deployments": len(ids), "seconds": elapsed, "rate": len(ids) / elapsed,
            "checks": checks}  # fmt: skip


async def _watch(db: asyncpg.Connection, expected: int) -> int:
    """Until `expected` deployments have ended: assert, at each look, that no project has two
    deployments IN_PROGRESS or holding its slot. Returns how many looks it took."""
    looks = 0
    while True:
        looks += 1
        doubled = await db.fetch(
            "SELECT project_id FROM deployments WHERE status = 'IN_PROGRESS' "
            "OR active_slot IS NOT NULL GROUP BY project_id HAVING count(*) > 1"
        )
        assert not doubled, f"two deployments of one project at once: {doubled}"
        ended = await db.fetchval(
            "SELECT count(*) FROM deployments WHERE status = ANY($1::text[])", list(TERMINAL)
        )
        if ended >= expected:
            return looks
        await asyncio.sleep(0.1)


def _dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def saq_baseline(redis_url: str, jobs: int) -> float:
    """SAQ no-op jobs/s on this Redis: one worker process, concurrency 10."""
    code = (
        "import asyncio\nfrom saq import Queue, Worker\n"
        "async def noop(ctx): return None\n"
        f"q = Queue.from_url({redis_url!r}, name='baseline')\n"
        "asyncio.run(Worker(q, functions=[noop], concurrency=10).start())\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", code])  # noqa: ASYNC220
    from saq import Queue

    queue = Queue.from_url(redis_url, name="baseline")
    try:
        await asyncio.sleep(1)
        started = time.monotonic()
        for _ in range(jobs):
            await queue.enqueue("noop")
        while (await queue.info())["queued"] or (await queue.count("active")):
            await asyncio.sleep(0.05)
        return jobs / (time.monotonic() - started)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait()
        await queue.disconnect()


def run(workers: int, database: str, redis_url: str, tmp: Path, projects: int,
        per_project: int, concurrency: int) -> dict[str, Any]:  # fmt: skip
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "CAPSTAN_DATA_DIR": str(tmp / "data"),
           "CAPSTAN_PORT": str(port), "CAPSTAN_REDIS_URL": redis_url,
           "CAPSTAN_DATABASE_URL": database, "CAPSTAN_MASTER_KEY": KEY,
           "CAPSTAN_LOG_LEVEL": "warning", "CAPSTAN_MAX_PENDING": "100000",
           "CAPSTAN_WORKER_CONCURRENCY": str(concurrency)}  # fmt: skip
    procs = [start(tmp, ["serve"], env, "serve")]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, procs[0], tmp / "serve.log")
        for n in range(1, workers):
            worker_env = {**env, "CAPSTAN_DATA_DIR": str(tmp / f"data{n}")}
            procs.append(start(tmp, ["worker"], worker_env, f"worker{n}"))
        time.sleep(2)
        from common import Server

        headers = admin_headers(Server(url, procs[0], tmp / "data"))
        return asyncio.run(drive(url, headers, database, projects, per_project))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--per-project", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--concurrency", type=int, default=8, help="jobs per worker process")
    parser.add_argument("--database", default=os.environ.get(
        "CAPSTAN_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))  # fmt: skip
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="capstan-throughput-") as base:
        with redis_server(Path(base)) as redis_url:
            baseline = asyncio.run(saq_baseline(redis_url, 2000))
        for workers in args.workers:
            tmp = Path(base) / f"w{workers}"
            tmp.mkdir()
            database = asyncio.run(fresh_database(args.database))
            try:
                with redis_server(tmp) as redis_url:
                    result = run(workers, database, redis_url, tmp, args.projects,
                                 args.per_project, args.concurrency)  # fmt: skip
            finally:
                asyncio.run(drop_database(args.database, database))
            rows.append((workers, result))
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"SAQ no-op jobs, same Redis (baseline): {baseline:.0f} jobs/s")
    print(f"{'workers':>7} {'deployments':>11} {'seconds':>8} {'deploys/s':>10} {'vs SAQ':>7} "
          f"{'checks':>6}")  # fmt: skip
    for workers, result in rows:
        print(f"{workers:>7} {result['deployments']:>11} {result['seconds']:>8.1f} "
              f"{result['rate']:>10.1f} {result['rate'] / baseline:>7.3f} "
              f"{result['checks']:>6}")  # fmt: skip
    print(f"concurrency {args.concurrency} per worker process; asserted during each run (every "
          "0.1 s, from the database): one deployment per project at a time; after it: every "
          "triggered deployment completed, once")  # fmt: skip
    print("goal: >= 100 deployments/s with one process")


if __name__ == "__main__":
    main()
