"""Stopping stages stops their whole process tree: nothing is left running behind."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

from conftest import Capstan, eventually, running_capstan

from app.settings import Settings


def marker() -> str:
    """A `sleep` argument no other process on the machine uses."""
    return f"{random.randint(100000, 999999)}.{random.randint(1000, 9999)}"


def alive(token: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line contains `token`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text()
            state = stat[stat.rindex(")") + 2]
            if token in cmdline and state != "Z":
                pids.append(int(entry.name))
    return pids


async def gone(token: str) -> bool:
    return not alive(token)


async def test_cancel_leaves_no_process_of_the_stage_alive(capstan: Capstan) -> None:
    token = marker()
    script = f"sleep {token} & (sleep {token}; true) & bash -c 'sleep {token}' \nwait"
    await capstan.create_project(stages=[{"name": "spawn", "run": script}])
    dep = await capstan.trigger()
    await eventually(lambda: _count(token, 3))
    response = await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")
    assert response.json()["status"] == "CANCELLED"
    await eventually(lambda: gone(token), timeout=15)


async def test_processes_ignoring_sigterm_are_killed_after_the_grace_period(
    capstan: Capstan,
) -> None:
    token = marker()
    script = f"trap '' TERM; bash -c \"trap '' TERM; sleep {token}\" & sleep {token}"
    await capstan.create_project(stages=[{"name": "stubborn", "run": script}])
    dep = await capstan.trigger()
    await eventually(lambda: _count(token, 2))
    await capstan.http.post(f"/api/v1/deployments/{dep['id']}/rollback")
    await eventually(lambda: gone(token), timeout=15)


async def test_timeout_stops_the_whole_tree(capstan: Capstan) -> None:
    token = marker()
    await capstan.create_project(
        stages=[{"name": "slow", "run": f"sleep {token} & sleep {token}", "timeout": 1}]
    )
    dep = await capstan.trigger()
    await capstan.wait_for(dep["id"], "FAILED")
    await eventually(lambda: gone(token), timeout=15)


async def test_background_processes_do_not_outlive_a_successful_stage(capstan: Capstan) -> None:
    token = marker()
    await capstan.create_project(stages=[{"name": "leaky", "run": f"sleep {token} &\necho done"}])
    dep = await capstan.trigger()
    await capstan.wait_for(dep["id"], "COMPLETED", timeout=20)
    assert await gone(token)


async def test_stopping_the_server_stops_stages_and_they_resume_after_restart(
    settings: Settings,
) -> None:
    token = marker()
    flag = "$CAPSTAN_CACHE_DIR/ran"
    script = f"if [ -f {flag} ]; then echo resumed; else touch {flag}; sleep {token}; fi"
    for round in range(2):
        async with running_capstan(settings) as capstan:
            if round == 0:
                await capstan.create_project(stages=[{"name": "long", "run": script}])
                dep = await capstan.trigger()
                await eventually(lambda: _count(token, 1))
            else:
                done = await capstan.wait_for(dep["id"], "COMPLETED")
                assert done["stages"][0]["attempt"] == 2
                assert "resumed" in await capstan.log(dep["id"])
        assert not alive(token)


async def _count(token: str, n: int) -> bool:
    return len(alive(token)) >= n
