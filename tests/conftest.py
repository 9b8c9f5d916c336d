"""Real parts for every test: a redis-server, SQLite files (or PostgreSQL), git, uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis
import uvicorn
from sse_starlette.sse import AppStatus
from tortoise.backends.base.executor import EXECUTOR_CACHE

from app.accounts.auth import create_token
from app.bundled_redis import redis_executable
from app.db import migrate
from app.models import User
from app.settings import Settings
from app.web.app import create_app, server_config

PG_URL = os.environ.get("CAPSTAN_TEST_DATABASE_URL", "")


async def database_dump(url: str) -> str:
    """Every value in every table, as text: what someone with a copy of the database sees."""
    if url.startswith("sqlite://"):
        return "\n".join(sqlite3.connect(url.removeprefix("sqlite://")).iterdump())
    conn = await asyncpg.connect(_pg(url))
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        rows = [await conn.fetch(f'SELECT * FROM "{t["tablename"]}"') for t in tables]
    finally:
        await conn.close()
    return "\n".join(repr(dict(row)) for table in rows for row in table)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A real redis-server (the bundled binary) on a free loopback port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                redis_executable(),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def flush(self) -> None:
        redis.Redis(port=self.port).flushall()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


def _pg(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Databases migrated once per session; each test starts from a copy of one."""
    sqlite = tmp_path_factory.mktemp("template") / "capstan.sqlite3"
    asyncio.run(migrate(Settings(database_url=f"sqlite://{sqlite}")))
    made = {"sqlite": str(sqlite)}
    if PG_URL:
        name = f"capstan_template_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
        EXECUTOR_CACHE.clear()
        asyncio.run(migrate(Settings(database_url=f"{PG_URL.rpartition('/')[0]}/{name}")))
        made["postgres"] = name
    yield made
    if PG_URL:
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{made["postgres"]}" WITH (FORCE)'))


async def _pg_execute(sql: str) -> None:
    admin = await asyncpg.connect(_pg(PG_URL))
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", "postgres"] if PG_URL else ["sqlite"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, templates: dict[str, str]
) -> AsyncIterator[str]:
    """A fresh database at the migrations' head: a SQLite file, and a new PostgreSQL database
    too when CAPSTAN_TEST_DATABASE_URL is set (every test that uses a database runs on both)."""
    # Tortoise caches SQL per connection name, not per dialect: forget the last test's.
    EXECUTOR_CACHE.clear()
    if request.param == "sqlite":
        shutil.copyfile(templates["sqlite"], tmp_path / "capstan.sqlite3")
        yield f"sqlite://{tmp_path / 'capstan.sqlite3'}"
        return
    name = f"capstan_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_pg(PG_URL))
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{templates["postgres"]}"')
    base, _, _ = PG_URL.rpartition("/")
    yield f"{base}/{name}"
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer, database_url: str) -> Settings:
    redis_server.flush()
    port = free_port()
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        redis_url=redis_server.url,
        port=port,
        url=f"http://127.0.0.1:{port}",
        lease_seconds=3,
        reconcile_seconds=0.5,
        kill_grace_seconds=2,
        master_key="ab" * 32,
        base_env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8"},
    )


@dataclasses.dataclass
class Capstan:
    """A running Capstan (uvicorn on a loopback port, in this test's event loop)."""

    settings: Settings
    http: httpx.AsyncClient

    async def create_project(self, name: str = "web", **fields: Any) -> dict[str, Any]:
        fields.setdefault("stages", [{"name": "build", "run": "echo built"}])
        response = await self.http.post("/api/v1/projects", json={"name": name, **fields})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def trigger(self, project: str = "web", **body: Any) -> dict[str, Any]:
        response = await self.http.post(f"/api/v1/projects/{project}/deployments", json=body)
        assert response.status_code == 202, response.text
        dep: dict[str, Any] = response.json()
        return dep

    async def deployment(self, dep_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/api/v1/deployments/{dep_id}")
        assert response.status_code == 200, response.text
        dep: dict[str, Any] = response.json()
        return dep

    async def wait_for(
        self, dep_id: str, *statuses: str, stage: str | None = None, timeout: float = 30
    ) -> dict[str, Any]:
        """Poll until the deployment has one of `statuses` (and `stage` as its current stage,
        started: a stage becomes current a moment before it runs)."""
        deadline = time.monotonic() + timeout
        while True:
            dep = await self.deployment(dep_id)
            current = dep["stages"][dep["stage_index"]] if dep["current_stage"] else None
            started = current is not None and current["status"] != "pending"
            if dep["status"] in statuses and (stage is None or (dep["current_stage"] == stage
                                                                and started)):  # fmt: skip
                return dep
            if time.monotonic() > deadline:
                raise AssertionError(f"deployment stuck: {dep}")
            await asyncio.sleep(0.05)

    async def awaiting_approval(self, dep_id: str) -> dict[str, Any]:
        """Poll until the deployment waits at an approval gate."""
        deadline = time.monotonic() + 30
        while True:
            dep = await self.deployment(dep_id)
            stage = dep["stages"][dep["stage_index"]] if dep["current_stage"] else None
            if dep["status"] == "IN_PROGRESS" and stage and stage["status"] == "awaiting_approval":
                return dep
            if time.monotonic() > deadline:
                raise AssertionError(f"not awaiting approval: {dep}")
            await asyncio.sleep(0.05)

    async def approve(self, dep_id: str) -> dict[str, Any]:
        await self.awaiting_approval(dep_id)
        response = await self.http.post(f"/api/v1/deployments/{dep_id}/approve")
        assert response.status_code == 200, response.text
        dep: dict[str, Any] = response.json()
        return dep

    async def log(self, dep_id: str) -> str:
        response = await self.http.get(f"/api/v1/deployments/{dep_id}/logs?follow=0")
        assert response.status_code == 200
        return response.text


@contextlib.asynccontextmanager
async def running_capstan(settings: Settings) -> AsyncIterator[Capstan]:
    """Capstan served by uvicorn on a loopback port in this event loop, stopped on exit."""
    AppStatus.should_exit = False
    server = uvicorn.Server(server_config(create_app(settings), settings, grace=1))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=settings.url, timeout=30) as http:
            admin = await User.get(username="admin")
            _, token = await create_token(admin, "tests", None)
            http.headers["Authorization"] = f"Bearer {token}"
            yield Capstan(settings, http)
    finally:
        server.should_exit = True
        await task
        AppStatus.should_exit = False


@pytest.fixture
async def capstan(settings: Settings) -> AsyncIterator[Capstan]:
    async with running_capstan(settings) as running:
        yield running


async def sign_in_as_admin(http: httpx.AsyncClient, data_dir: Path) -> str:
    """Log in as the first admin and make `http` send an API token from then on."""
    password = (data_dir / "initial-admin-password").read_text().strip()
    login = await http.post("/login", json={"username": "admin", "password": password})
    assert login.status_code == 200, login.text
    csrf = login.json()["csrf_token"]
    created = await http.post(
        "/api/v1/tokens", json={"name": "tests"}, headers={"X-CSRF-Token": csrf}
    )
    assert created.status_code == 201, created.text
    http.cookies.clear()
    token: str = created.json()["token"]
    http.headers["Authorization"] = f"Bearer {token}"
    return token


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    """Poll `check` until it holds, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    out = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return out.stdout.decode().strip()


@dataclasses.dataclass
class Repo:
    path: Path

    @property
    def url(self) -> str:
        return str(self.path)

    def commit(self, files: dict[str, str], message: str = "change", branch: str = "main") -> str:
        git(self.path, "checkout", "-q", "-B", branch)
        for name, text in files.items():
            (self.path / name).parent.mkdir(parents=True, exist_ok=True)
            (self.path / name).write_text(text)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", message)
        return git(self.path, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    r = Repo(path)
    r.commit({"app.txt": "v1\n"}, "first")
    return r


# Tests of process control, the CLI, forge reporting and the SSH side of targets do not
# depend on the SQL dialect:
# they run on SQLite only, to keep the suite under five minutes when PostgreSQL is set.
ONE_DATABASE = {
    "test_cli.py", "test_cli_client.py", "test_processes.py", "test_statuses.py",
    "test_notify_cli.py", "test_targets.py",
}  # fmt: skip
# The web UI's fixtures (`browsing`, `browser`, `ui_server`): tests/ui.py; real SSH
# servers (`sshd`, `sshd_pair`): tests/sshd.py.
pytest_plugins = ["ui", "sshd"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: the test is about SQLite itself")
    config.addinivalue_line(
        "markers", "one_database: the test does not depend on the SQL dialect (SQLite only)"
    )


def _on_postgres(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("database_url") == "postgres"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep = [
        item
        for item in items
        if not (
            (
                item.path.name in ONE_DATABASE
                or item.get_closest_marker("sqlite_only")
                or item.get_closest_marker("one_database")
            )
            and _on_postgres(item)
        )
    ]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
