"""Commit statuses reach a real HTTP server on 127.0.0.1 standing in for each forge's API."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import Capstan, eventually, free_port, running_capstan
from payloads import (
    body_of,
    gitea_headers,
    gitea_push,
    github_headers,
    github_push,
    gitlab_headers,
    gitlab_push,
)

from app.settings import Settings

COMMIT = "a" * 40


@dataclasses.dataclass
class Forge:
    url: str
    requests: list[dict[str, Any]]
    failures: int = 0
    down: bool = False  # answer 502 to everything while set


@pytest.fixture
def forge() -> Iterator[Forge]:
    state = Forge("", [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if state.failures > 0 or state.down:
                state.failures = max(0, state.failures - 1)
                self.send_response(502)
                self.end_headers()
                return
            state.requests.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
            )
            self.send_response(201)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


async def set_token(capstan: Capstan, name: str) -> None:
    response = await capstan.http.put(
        f"/api/v1/projects/web/secrets/{name}", json={"value": "tok-secret-123"}
    )
    assert response.status_code == 204


async def states(forge: Forge, count: int) -> list[str]:
    async def arrived() -> bool:
        return len(forge.requests) >= count

    await eventually(arrived, timeout=30)
    return [r["json"]["state"] for r in forge.requests]


async def all_reported(capstan: Capstan, forge: Forge, count: int) -> list[str]:
    """The states the forge received once `count` arrived and no report job is left to run:
    all there will be."""

    async def done() -> bool:
        queue = (await capstan.http.get("/api/v1/queue")).json()
        idle = queue["pending"] == queue["active"] == queue["scheduled"] == 0
        return len(forge.requests) >= count and idle

    await eventually(done, timeout=30)
    return [r["json"]["state"] for r in forge.requests]


async def test_github_statuses_arrive_in_order(settings: Settings, forge: Forge) -> None:
    local = dataclasses.replace(
        settings, github_api_url=forge.url, public_url="https://cap.example"
    )
    async with running_capstan(local) as capstan:
        secret = (await capstan.create_project())["webhook_secret"]
        await set_token(capstan, "GITHUB_TOKEN")
        body = body_of(github_push("refs/heads/main", COMMIT))
        response = await capstan.http.post(
            "/hooks/github/web", content=body, headers=github_headers(secret, body)
        )
        dep_id = response.json()["deployment"]
        await capstan.wait_for(dep_id, "COMPLETED")
        assert await states(forge, 2) == ["pending", "success"]
        first = forge.requests[0]
        assert first["path"] == f"/repos/Codertocat/Hello-World/statuses/{COMMIT}"
        assert first["headers"]["Authorization"] == "Bearer tok-secret-123"
        assert first["json"]["context"] == "capstan/web"
        assert first["json"]["target_url"] == f"https://cap.example/deployments/{dep_id}"


async def test_failed_deployment_reports_failure(settings: Settings, forge: Forge) -> None:
    async with running_capstan(dataclasses.replace(settings, github_api_url=forge.url)) as capstan:
        secret = (await capstan.create_project(stages=[{"name": "x", "run": "exit 1"}]))[
            "webhook_secret"
        ]
        await set_token(capstan, "GITHUB_TOKEN")
        body = body_of(github_push("refs/heads/main", COMMIT))
        await capstan.http.post(
            "/hooks/github/web", content=body, headers=github_headers(secret, body)
        )
        assert await states(forge, 2) == ["pending", "failure"]


async def test_gitlab_and_gitea_statuses(settings: Settings, forge: Forge) -> None:
    local = dataclasses.replace(settings, gitlab_api_url=forge.url, gitea_api_url=forge.url)
    async with running_capstan(local) as capstan:
        secret = (await capstan.create_project())["webhook_secret"]
        await set_token(capstan, "GITLAB_TOKEN")
        body = body_of(gitlab_push("refs/heads/main", COMMIT))
        response = await capstan.http.post(
            "/hooks/gitlab/web", content=body, headers=gitlab_headers(secret)
        )
        await capstan.wait_for(response.json()["deployment"], "COMPLETED")
        assert await all_reported(capstan, forge, 2) == ["pending", "success"]
        assert forge.requests[0]["path"] == f"/projects/15/statuses/{COMMIT}"
        assert forge.requests[0]["headers"]["PRIVATE-TOKEN"] == "tok-secret-123"
        assert forge.requests[0]["json"]["name"] == "capstan/web"
        await set_token(capstan, "GITEA_TOKEN")
        body = body_of(gitea_push("refs/heads/main", "b" * 40))
        response = await capstan.http.post(
            "/hooks/gitea/web", content=body, headers=gitea_headers(secret, body)
        )
        await capstan.wait_for(response.json()["deployment"], "COMPLETED")
        assert await all_reported(capstan, forge, 4) == ["pending", "success"] * 2
        assert forge.requests[2]["path"] == f"/repos/gitea/webhooks/statuses/{'b' * 40}"
        assert forge.requests[2]["headers"]["Authorization"] == "token tok-secret-123"


async def test_the_queued_state_goes_first_even_when_its_report_runs_late(
    settings: Settings, forge: Forge
) -> None:
    """The first status used to be whatever the deployment was by the time its job ran
    (GitLab: `running`, once the deployment had started): now it is always the queued one."""
    forge.down = True
    async with running_capstan(dataclasses.replace(settings, gitlab_api_url=forge.url)) as capstan:
        secret = (await capstan.create_project(stages=[{"name": "gate", "approval": True}]))[
            "webhook_secret"
        ]
        await set_token(capstan, "GITLAB_TOKEN")
        body = body_of(gitlab_push("refs/heads/main", COMMIT))
        response = await capstan.http.post(
            "/hooks/gitlab/web", content=body, headers=gitlab_headers(secret)
        )
        dep_id = response.json()["deployment"]
        await capstan.awaiting_approval(dep_id)
        forge.down = False
        assert await states(forge, 1) == ["pending"]
        await capstan.approve(dep_id)
        await capstan.wait_for(dep_id, "COMPLETED")
        assert await all_reported(capstan, forge, 2) == ["pending", "success"]


async def test_a_failing_status_call_is_retried(settings: Settings, forge: Forge) -> None:
    forge.failures = 2
    async with running_capstan(dataclasses.replace(settings, github_api_url=forge.url)) as capstan:
        secret = (await capstan.create_project(stages=[{"name": "wait", "approval": True}]))[
            "webhook_secret"
        ]
        await set_token(capstan, "GITHUB_TOKEN")
        body = body_of(github_push("refs/heads/main", COMMIT))
        response = await capstan.http.post(
            "/hooks/github/web", content=body, headers=github_headers(secret, body)
        )
        assert await states(forge, 1) == ["pending"]
        await capstan.http.post(f"/api/v1/deployments/{response.json()['deployment']}/cancel")
        assert await states(forge, 2) == ["pending", "error"]


async def test_a_dead_status_server_changes_nothing_for_the_deployment(settings: Settings) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with running_capstan(dataclasses.replace(settings, github_api_url=dead)) as capstan:
        secret = (await capstan.create_project())["webhook_secret"]
        await set_token(capstan, "GITHUB_TOKEN")
        body = body_of(github_push("refs/heads/main", COMMIT))
        response = await capstan.http.post(
            "/hooks/github/web", content=body, headers=github_headers(secret, body)
        )
        dep = await capstan.wait_for(response.json()["deployment"], "COMPLETED", timeout=10)
        assert dep["error"] is None


async def test_no_token_no_status(settings: Settings, forge: Forge) -> None:
    async with running_capstan(dataclasses.replace(settings, github_api_url=forge.url)) as capstan:
        secret = (await capstan.create_project())["webhook_secret"]
        body = body_of(github_push("refs/heads/main", COMMIT))
        response = await capstan.http.post(
            "/hooks/github/web", content=body, headers=github_headers(secret, body)
        )
        await capstan.wait_for(response.json()["deployment"], "COMPLETED")
        api = await capstan.trigger()
        await capstan.wait_for(api["id"], "COMPLETED")
        assert forge.requests == []
