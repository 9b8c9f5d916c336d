"""Nothing lost: concurrent triggers, several workers, kill -9, and Redis outages."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import (
    Capstan,
    RedisServer,
    eventually,
    free_port,
    running_capstan,
    sign_in_as_admin,
)
from test_processes import alive, gone, marker

from app.models import Deployment
from app.settings import Settings


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "CAPSTAN_DATA_DIR": str(settings.data_dir),
        "CAPSTAN_LEASE_SECONDS": "3",
        "CAPSTAN_RECONCILE_SECONDS": "0.5",
        "CAPSTAN_KILL_GRACE_SECONDS": "2",
        "CAPSTAN_MASTER_KEY": settings.master_key,
    }
    return {**env, **extra}


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args], env=env, stdout=out, stderr=out
        )


async def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"server did not become ready:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_fifty_concurrent_triggers_never_run_two_at_once(
    capstan: Capstan, tmp_path: Path
) -> None:
    settings = capstan.settings
    env = server_env(
        settings,
        CAPSTAN_DATABASE_URL=settings.database_url,
        CAPSTAN_REDIS_URL=settings.redis_url,
    )
    worker = start(["worker"], env, tmp_path / "worker.log")
    try:
        trace = "echo start $CAPSTAN_SEQ >> $CAPSTAN_CACHE_DIR/trace; sleep 0.05\n"
        trace += "echo end $CAPSTAN_SEQ >> $CAPSTAN_CACHE_DIR/trace"
        await capstan.create_project(stages=[{"name": "one", "run": trace}])
        triggers = [
            capstan.http.post("/api/v1/projects/web/deployments", json={}) for _ in range(50)
        ]
        responses = await asyncio.gather(*triggers)
        assert [r.status_code for r in responses] == [202] * 50
        ids = [r.json()["id"] for r in responses]
        seen_max = 0
        deadline = time.monotonic() + 120
        while True:
            running = await Deployment.filter(status="IN_PROGRESS").count()
            seen_max = max(seen_max, running)
            done = await Deployment.filter(id__in=ids, status="COMPLETED").count()
            if done == 50:
                break
            assert time.monotonic() < deadline, f"{done} of 50 done"
            await asyncio.sleep(0.01)
        assert seen_max <= 1
        lines = (settings.projects_dir / "web" / "cache" / "trace").read_text().split("\n")[:-1]
        assert len(lines) == 100
        for opened, closed in zip(lines[::2], lines[1::2], strict=True):
            assert opened.startswith("start") and closed == opened.replace("start", "end")
        queue = (await capstan.http.get("/api/v1/queue")).json()
        assert queue["workers"] == 2
    finally:
        stop(worker)


@pytest.fixture
def embedded_redis_cleanup(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "data"
    yield data
    pidfile = data / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


@pytest.mark.parametrize("sandbox", ["auto", "none"])
async def test_kill_9_mid_stage_then_restart_completes_with_attempt_2(
    settings: Settings, tmp_path: Path, embedded_redis_cleanup: Path, sandbox: str
) -> None:
    """A real `capstan serve` on embedded defaults (SQLite, bundled Redis), killed with SIGKILL.
    A sandbox dies with it; an unsandboxed stage runs on until the resume stops it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(settings, CAPSTAN_PORT=str(port), CAPSTAN_SANDBOX=sandbox,
                     CAPSTAN_SINGLE_TEAM="1")  # fmt: skip
    env.pop("CAPSTAN_MASTER_KEY")
    token = marker()
    script = (
        "echo before-1; echo before-2\n"
        "if [ -f $CAPSTAN_CACHE_DIR/crashed ]; then echo second run;\n"
        "else touch $CAPSTAN_CACHE_DIR/crashed; "
        f"echo waiting; sleep {token}; fi"
    )
    log = tmp_path / "serve.log"
    proc = start(["serve"], env, log)
    try:
        await wait_ready(url, proc, log)
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            await sign_in_as_admin(http, settings.data_dir)
            capstan = Capstan(settings, http)
            await capstan.create_project(stages=[{"name": "crashy", "run": script}])
            dep = await capstan.trigger()

            async def waiting() -> bool:
                return "waiting" in await capstan.log(dep["id"])

            await eventually(waiting)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if sandbox == "none":
                assert alive(token), "an unsandboxed stage outlives a SIGKILLed server"
            else:
                await eventually(lambda: gone(token), timeout=10)
            killed_at = time.monotonic()
            proc = start(["serve"], env, log)
            await wait_ready(url, proc, log)
            done = await capstan.wait_for(dep["id"], "COMPLETED", timeout=60)
            assert time.monotonic() - killed_at < 60
            assert done["stages"][0]["attempt"] == 2
            text = await capstan.log(dep["id"])
            for line in ("before-1", "before-2", "waiting", "second run"):
                assert line in text
            assert text.count("==> crashy (attempt 1)") == 1
            assert "==> crashy (attempt 2)" in text
            assert not alive(token), "the lost attempt's processes are stopped on resume"
    finally:
        stop(proc)


async def test_triggers_during_a_redis_outage_run_exactly_once_when_it_returns(
    settings: Settings, tmp_path: Path
) -> None:
    outage = RedisServer(tmp_path)
    outage.start()
    local = Settings(**{**settings.__dict__, "redis_url": outage.url})
    try:
        async with running_capstan(local) as capstan:
            http = capstan.http
            await capstan.create_project(
                stages=[{"name": "count", "run": "echo $CAPSTAN_SEQ >> $CAPSTAN_CACHE_DIR/runs"}]
            )
            outage.stop()
            deps = [await capstan.trigger() for _ in range(5)]
            ready = await http.get("/readyz")
            assert ready.status_code == 503 and "redis" in ready.json()["down"]
            queue = await http.get("/api/v1/queue")
            assert queue.status_code == 503 and "Retry-After" in queue.headers
            assert queue.json()["error"]["code"] == "queue_unavailable"
            await asyncio.sleep(1)
            for dep in deps:
                assert (await capstan.deployment(dep["id"]))["status"] == "PENDING"
            outage.start()
            for dep in deps:
                await capstan.wait_for(dep["id"], "COMPLETED", timeout=60)
            runs = (local.projects_dir / "web" / "cache" / "runs").read_text().split()
            assert sorted(runs) == sorted(str(d["seq"]) for d in deps)

            async def ready_again() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await eventually(ready_again)
    finally:
        outage.stop()
