"""The attacker's side of issue 9: each test tries one hole the way an attacker would and
checks it is closed (each fails on the code before the fix)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from conftest import Capstan

from app.auth import create_token
from app.models import User


@pytest.fixture
async def clients(capstan: Capstan) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """A client per role, each signed in with an API token; close them all afterwards."""
    made: dict[str, httpx.AsyncClient] = {}

    async def client(username: str, role: str) -> httpx.AsyncClient:
        user = await User.create(username=username, password_hash="!", role=role)
        _, token = await create_token(user, "attack", None)
        made[username] = httpx.AsyncClient(
            base_url=capstan.settings.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )
        return made[username]

    for username, role in (("vic", "viewer"), ("dev", "developer"), ("mallory", "developer")):
        await client(username, role)
    yield made
    for http in made.values():
        await http.aclose()


async def member(capstan: Capstan, project: str, username: str, role: str) -> None:
    response = await capstan.http.put(
        f"/api/v1/projects/{project}/members/{username}", json={"role": role}
    )
    assert response.status_code == 200, response.text


# 5. Membership cannot exceed the global role.


async def test_a_viewer_made_owner_still_only_views(
    capstan: Capstan, clients: dict[str, httpx.AsyncClient]
) -> None:
    await capstan.create_project(stages=[{"name": "gate", "approval": True}])
    await capstan.http.patch("/api/v1/projects/web", json={"members_can_approve": True})
    await member(capstan, "web", "vic", "owner")
    dep = await capstan.trigger()
    await capstan.awaiting_approval(dep["id"])
    vic = clients["vic"]
    tries = [
        ("PATCH", "/api/v1/projects/web", {"stages": [{"name": "x", "run": "id"}]}),
        ("PUT", "/api/v1/projects/web/secrets/TOKEN", {"value": "planted-value"}),
        ("PUT", "/api/v1/projects/web/members/mallory", {"role": "owner"}),
        ("POST", "/api/v1/projects/web/webhook-secret", None),
        ("POST", "/api/v1/projects/web/deployments", {}),
        ("POST", f"/api/v1/deployments/{dep['id']}/approve", None),
        ("POST", f"/api/v1/deployments/{dep['id']}/cancel", None),
        ("DELETE", "/api/v1/projects/web", None),
    ]
    for method, path, body in tries:
        response = await vic.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.text)
    assert (await vic.get("/api/v1/projects/web")).status_code == 200
    await member(capstan, "web", "vic", "member")
    approve = await vic.post(f"/api/v1/deployments/{dep['id']}/approve")
    assert approve.status_code == 403
    shown = (await capstan.http.get("/api/v1/projects/web")).json()
    assert shown["stages"] == [{"name": "gate", "approval": True}]
    assert (await capstan.http.get("/api/v1/projects/web/secrets")).json()["secrets"] == []
    assert (await capstan.deployment(dep["id"]))["status"] == "IN_PROGRESS"
    await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")


# 7. A non-member asking for another project's deployment learns nothing, not even its name.


async def test_another_projects_deployment_is_a_404_that_names_nothing(
    capstan: Capstan, clients: dict[str, httpx.AsyncClient]
) -> None:
    await capstan.create_project("secret-plans", stages=[{"name": "gate", "approval": True}])
    dep = await capstan.trigger("secret-plans")
    mallory = clients["mallory"]
    unknown = "00000000-0000-4000-8000-000000000000"
    for method, suffix in (("GET", ""), ("GET", "/logs?follow=0"), ("POST", "/approve"),
                           ("POST", "/cancel"), ("POST", "/rollback")):  # fmt: skip
        real = await mallory.request(method, f"/api/v1/deployments/{dep['id']}{suffix}")
        fake = await mallory.request(method, f"/api/v1/deployments/{unknown}{suffix}")
        assert real.status_code == fake.status_code == 404, suffix
        assert real.json() == fake.json(), suffix
        assert "secret-plans" not in real.text
    await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")
