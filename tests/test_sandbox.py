"""Stages as an attacker writes them: a stage sees its own release and nothing of the server.

Each test runs on both sandboxes (bubblewrap and util-linux unshare). The data dir sits under
/opt, a directory stages do see (read-only), to show Capstan's own files are hidden anyway.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from conftest import Capstan, Repo, eventually, running_capstan
from test_access import add_user
from test_processes import alive, gone, marker

from app.engine.sandbox import Sandbox
from app.settings import Settings

SECRET = "victim-secret-" + uuid.uuid4().hex


@pytest.fixture(params=["bwrap", "unshare"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def opt_data_dir() -> Iterator[Path]:
    top = Path("/opt") / f"capstan-test-{uuid.uuid4().hex[:8]}"
    yield top / "data"
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
async def sandboxed(settings: Settings, kind: str, opt_data_dir: Path) -> AsyncIterator[Capstan]:
    changed = dataclasses.replace(settings, sandbox=kind, data_dir=opt_data_dir)
    async with running_capstan(changed) as capstan:
        yield capstan


def probes(settings: Settings, capstan_port: int) -> str:
    """A stage that tries everything it must not do, printing OPEN or SHUT for each."""
    data = settings.data_dir.resolve()
    database = settings.database.removeprefix("sqlite://")
    tries = {
        "master-key": f"cat {data}/master.key",
        "admin-password": f"cat {data}/initial-admin-password",
        "database": f"cat {database}",
        "database-wal": f"cat {database}-wal",
        "data-dir-listing": f"ls -A {data} | grep -qvx projects",
        "other-project": f"ls -A {data}/projects/victim | grep -q .",
        "other-mirror": f"git clone -q {data}/projects/victim/mirror.git /tmp/stolen",
        "other-stage-env": f"grep -qa {SECRET} /proc/*/environ",
        "host-processes": "grep -qaE 'redis-serve[r]|bin/pytes[t]' /proc/*/cmdline",
        "write-usr": "touch /usr/capstan-probe",
        "write-etc": "touch /etc/capstan-probe",
        "root-home": "ls -A /root | grep -q .",
        "own-release": "touch $CAPSTAN_RELEASE_DIR/probe",
        "own-cache": "touch $CAPSTAN_CACHE_DIR/probe && touch $HOME/probe2",
        "tmp": "touch /tmp/probe",
        "network": f"exec 3<>/dev/tcp/127.0.0.1/{capstan_port}",
    }
    lines = [
        'check() { if eval "$2" >/dev/null 2>&1; then echo "OPEN $1"; else echo "SHUT $1"; fi; }'
    ]
    lines += [f"check {name} {_quote(command)}" for name, command in tries.items()]
    return "\n".join(lines)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


async def test_a_stage_sees_only_its_own_release(sandboxed: Capstan, repo: Repo, kind: str) -> None:
    capstan = sandboxed
    ready = (await capstan.http.get("/readyz")).json()
    assert ready["sandbox"] == kind
    repo.commit({"app.txt": "v1"})
    await capstan.create_project("victim", repo_url=repo.url, stages=[
        {"name": "hold", "run": "echo $VICTIM_TOKEN > /dev/null; sleep 60"}])  # fmt: skip
    put = await capstan.http.put(
        "/api/v1/projects/victim/secrets/VICTIM_TOKEN", json={"value": SECRET}
    )
    assert put.status_code == 204
    victim = await capstan.trigger("victim")
    await capstan.wait_for(victim["id"], "IN_PROGRESS")
    await eventually(lambda: _secret_in_some_environ())
    script = probes(capstan.settings, capstan.settings.port)
    await capstan.create_project("intruder", stages=[{"name": "probe", "run": script}])
    dep = await capstan.trigger("intruder")
    await capstan.wait_for(dep["id"], "COMPLETED")
    log = await capstan.log(dep["id"])
    found = dict(line.split()[::-1] for line in log.splitlines() if line[:5] in ("OPEN ", "SHUT "))
    allowed = {"own-release", "own-cache", "tmp", "network"}
    assert {name for name, state in found.items() if state == "OPEN"} == allowed, log
    assert len(found) == 16
    await capstan.http.post(f"/api/v1/deployments/{victim['id']}/cancel")


async def _secret_in_some_environ() -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if SECRET.encode() in (entry / "environ").read_bytes():
                    return True
            except OSError:
                continue
    return False


async def test_nothing_a_stage_starts_outlives_its_deployment(sandboxed: Capstan) -> None:
    token = marker()
    script = (
        f"setsid nohup sleep {token} >/dev/null 2>&1 &\n"
        f"(setsid bash -c 'sleep {token} & disown' &)\n"
        f"bash -c 'trap \"\" TERM HUP; exec -a daemon sleep {token}' </dev/null >/dev/null 2>&1 &\n"
        "disown -a; echo started"
    )
    await sandboxed.create_project(stages=[{"name": "daemons", "run": script}])
    dep = await sandboxed.trigger()
    await sandboxed.wait_for(dep["id"], "COMPLETED")
    await eventually(lambda: gone(token), timeout=10)


async def test_a_cancelled_stage_may_clean_up_before_it_is_killed(sandboxed: Capstan) -> None:
    token = marker()
    script = "trap 'sleep 0.2; echo cleaned > $CAPSTAN_CACHE_DIR/cleaned; exit 1' TERM\n"
    script += f"sleep {token} & wait"
    await sandboxed.create_project(stages=[{"name": "tidy", "run": script}])
    dep = await sandboxed.trigger()
    await eventually(lambda: _running(token))
    await sandboxed.http.post(f"/api/v1/deployments/{dep['id']}/cancel")
    cleaned = sandboxed.settings.projects_dir / "web" / "cache" / "cleaned"
    await eventually(lambda: _exists(cleaned), timeout=10)
    await eventually(lambda: gone(token), timeout=10)


async def _exists(path: Path) -> bool:
    return path.exists()


async def _running(token: str) -> bool:
    return bool(alive(token))


@pytest.fixture
def user_home() -> Iterator[Path]:
    """A directory of uid 65534's own, outside root's 0700 pytest temp dir."""
    home = Path(tempfile.mkdtemp(prefix="capstan-user-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


async def test_an_unprivileged_capstan_gets_the_same_sandbox(user_home: Path, kind: str) -> None:
    """Capstan running as an ordinary user (here uid 65534): a user namespace, same view."""
    data = user_home / "data"
    release = data / "projects" / "web" / "releases" / "1"
    release.mkdir(parents=True)
    (data / "master.key").write_text("the key")
    for path in [user_home, *user_home.rglob("*")]:
        os.chown(path, 65534, 65534)
    (data / "master.key").chmod(0o600)
    sandbox = Sandbox(kind, uid=None, hidden=(data,))
    script = f"cat {data}/master.key; echo found=$(ls -A {data}); id -u; touch written"
    argv = await sandbox.command(["bash", "-c", script], release, data / "projects/web/cache")
    as_user = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--"]
    done = await asyncio.to_thread(
        subprocess.run, [*as_user, *argv], cwd=release, capture_output=True, text=True,
        timeout=30, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert "the key" not in done.stdout, done.stdout
    assert "found=projects" in done.stdout and (release / "written").exists(), done.stderr
    assert done.returncode == 0


async def test_without_a_sandbox_only_admins_write_stages(settings: Settings) -> None:
    unconfined = dataclasses.replace(settings, sandbox="none")
    stages = [{"name": "x", "run": "true"}]
    async with running_capstan(unconfined) as capstan:
        assert (await capstan.http.get("/readyz")).json()["sandbox"] == "none"
        developer = await add_user(capstan, "dev", "developer")
        try:
            refused = await developer.post("/api/v1/projects", json={"name": "a", "stages": stages})
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "no_sandbox"
            await capstan.create_project("web", stages=stages)
            owner = {"role": "owner"}
            made = await capstan.http.put("/api/v1/projects/web/members/dev", json=owner)
            assert made.is_success
            patch = await developer.patch("/api/v1/projects/web", json={"stages": stages})
            assert patch.status_code == 403
            harmless = await developer.patch("/api/v1/projects/web", json={"keep_releases": 3})
            assert harmless.status_code == 200
        finally:
            await developer.aclose()
    accepted = dataclasses.replace(unconfined, single_team=True)
    async with running_capstan(accepted) as capstan:
        developer = await add_user(capstan, "dev2", "developer")
        try:
            made = await developer.post("/api/v1/projects", json={"name": "b", "stages": stages})
            assert made.status_code == 201, made.text
        finally:
            await developer.aclose()
