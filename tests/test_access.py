"""Who may do what: the README's table, cell by cell, generated from the route list."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest
from conftest import Capstan, database_dump, running_capstan
from starlette.routing import Mount, Route

from app.domain.access import Permission
from app.settings import Settings
from app.web.pages import PAGE_PERMISSIONS
from app.web.routes import PERMISSIONS, ROUTES

PASSWORD = "correct horse battery staple"
PEOPLE = {
    "manager": ("manager", None),
    "dev-owner": ("developer", "owner"),
    "dev-member": ("developer", "member"),
    "dev-other": ("developer", None),
    "viewer": ("viewer", None),
    # Membership never lifts a role: a viewer made owner is still only a viewer.
    "viewer-owner": ("viewer", "owner"),
}
# The README's table: "yes" allowed, "no" refused (403), "hidden" (404: the project is not seen).
TABLE: dict[Permission, dict[str, str]] = {
    Permission.PROJECT_VIEW: dict.fromkeys(PEOPLE, "yes") | {"dev-other": "hidden"},
    Permission.PROJECT_CREATE: dict.fromkeys(PEOPLE, "yes")
                               | {"viewer": "no", "viewer-owner": "no"},
    Permission.PROJECT_EDIT: {"manager": "yes", "dev-owner": "yes", "dev-member": "no",
                              "dev-other": "hidden", "viewer": "no", "viewer-owner": "no"},
    Permission.PROJECT_OPERATE: {"manager": "yes", "dev-owner": "yes", "dev-member": "yes",
                                 "dev-other": "hidden", "viewer": "no", "viewer-owner": "no"},
    Permission.PROJECT_APPROVE: {"manager": "yes", "dev-owner": "yes", "dev-member": "no",
                                 "dev-other": "hidden", "viewer": "no", "viewer-owner": "no"},
    Permission.USERS_READ: dict.fromkeys(PEOPLE, "no") | {"manager": "yes"},
    Permission.USERS_WRITE: dict.fromkeys(PEOPLE, "no"),
    Permission.AUDIT_READ: dict.fromkeys(PEOPLE, "no") | {"manager": "yes", "dev-owner": "yes"},
    Permission.ADMIN: dict.fromkeys(PEOPLE, "no"),
    Permission.METRICS: dict.fromkeys(PEOPLE, "no"),
    Permission.SIGNED_IN: dict.fromkeys(PEOPLE, "yes"),
    Permission.NOTIFY_MANAGE: dict.fromkeys(PEOPLE, "no") | {"manager": "yes"},
}  # fmt: skip
# Requests that pass the guard but change nothing (a refused body, a missing object).
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/projects"): {},
    ("PATCH", "/api/v1/projects/{project}"): {"name": "renamed"},
    ("POST", "/api/v1/projects/{project}/deployments"): {"reff": 1},
    ("POST", "/api/v1/projects/{project}/rollback"): {"unknown": 1},
    ("PUT", "/api/v1/projects/{project}/secrets/{name}"): {},
    ("POST", "/api/v1/users"): {},
    ("PATCH", "/api/v1/users/{username}"): {"role": "viewer"},
    ("PUT", "/api/v1/projects/{project}/members/{username}"): {"role": "owner"},
    ("POST", "/api/v1/tokens"): {"name": "matrix"},
}


async def add_user(capstan: Capstan, username: str, role: str) -> httpx.AsyncClient:
    body = {"username": username, "password": PASSWORD, "role": role}
    assert (await capstan.http.post("/api/v1/users", json=body)).status_code == 201
    client = httpx.AsyncClient(base_url=capstan.settings.url, timeout=30)
    login = await client.post("/login", json={"username": username, "password": PASSWORD})
    csrf = login.json()["csrf_token"]
    created = await client.post("/api/v1/tokens", json={}, headers={"X-CSRF-Token": csrf})
    client.cookies.clear()
    client.headers["Authorization"] = f"Bearer {created.json()['token']}"
    return client


@pytest.fixture
async def people(capstan: Capstan) -> Any:
    await capstan.create_project(stages=[{"name": "x", "run": "true"}])
    clients = {}
    for name, (role, membership) in PEOPLE.items():
        clients[name] = await add_user(capstan, name, role)
        if membership:
            response = await capstan.http.put(
                f"/api/v1/projects/web/members/{name}", json={"role": membership}
            )
            assert response.status_code == 200
    yield clients
    for client in clients.values():
        await client.aclose()


def concrete(path: str, dep_id: str, name: str) -> str:
    values = {
        "project": "web",
        "deployment": dep_id,
        "delivery": str(uuid.uuid4()),
        "name": "NOPE",
        "username": "nobody",
        "token": str(uuid.uuid4()),
        "provider": "nope",
        "channel": "nope",
        "subscription": str(uuid.uuid4()),
        "target": "nope",
        "host_key": "1",
    }
    if path == "/api/v1/projects/{project}" and name:
        values["project"] = name
    return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)


def outcome(response: httpx.Response) -> str:
    if response.status_code == 403:
        return "no"
    hidden = ("project_not_found", "deployment_not_found")  # a real deployment id is used
    if response.status_code == 404 and response.json()["error"]["code"] in hidden:
        return "hidden"
    assert response.status_code != 401, response.text
    return "yes"


async def test_every_route_declares_a_permission() -> None:
    for route in ROUTES:
        if isinstance(route, Mount):  # the static files
            continue
        assert isinstance(route, Route)
        if not route.include_in_schema:  # a page
            assert route.methods == {"GET", "HEAD"} and route.path in PAGE_PERMISSIONS
            continue
        for method in (route.methods or set()) - {"HEAD"}:
            assert (method, route.path) in PERMISSIONS


async def test_the_permission_table_cell_by_cell(capstan: Capstan, people: Any) -> None:
    dep = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    for (method, path), permission in PERMISSIONS.items():
        if permission in (Permission.PUBLIC, Permission.WEBHOOK) or path == "/logout":
            continue
        for person, client in people.items():
            throwaway = ""
            if (method, path) == ("DELETE", "/api/v1/projects/{project}"):
                throwaway = f"gone-{person}"
                await capstan.create_project(throwaway)
                role = PEOPLE[person][1]
                if role:
                    await capstan.http.put(
                        f"/api/v1/projects/{throwaway}/members/{person}", json={"role": role}
                    )
            url = concrete(path, dep["id"], throwaway)
            body = BODIES.get((method, path))
            response = await client.request(method, url, json=body)
            expected = TABLE[permission][person]
            assert outcome(response) == expected, (method, path, person, response.text)


async def test_members_approve_only_where_the_project_allows_it(
    capstan: Capstan, people: Any
) -> None:
    await capstan.http.patch(
        "/api/v1/projects/web", json={"stages": [{"name": "gate", "approval": True}]}
    )
    member = people["dev-member"]
    dep = await capstan.trigger()
    await capstan.awaiting_approval(dep["id"])
    assert (await member.post(f"/api/v1/deployments/{dep['id']}/approve")).status_code == 403
    await capstan.http.patch("/api/v1/projects/web", json={"members_can_approve": True})
    assert (await member.post(f"/api/v1/deployments/{dep['id']}/approve")).status_code == 200


async def test_no_self_approval(capstan: Capstan, people: Any) -> None:
    await capstan.http.patch(
        "/api/v1/projects/web",
        json={"stages": [{"name": "gate", "approval": True}], "no_self_approval": True},
    )
    owner = people["dev-owner"]
    dep = (await owner.post("/api/v1/projects/web/deployments", json={})).json()
    await capstan.awaiting_approval(dep["id"])
    mine = await owner.post(f"/api/v1/deployments/{dep['id']}/approve")
    assert mine.status_code == 403 and mine.json()["error"]["code"] == "self_approval"
    await capstan.approve(dep["id"])


async def test_ids_the_caller_may_not_see_are_404(capstan: Capstan, people: Any) -> None:
    other = people["dev-other"]
    dep = await capstan.trigger()
    for path in (f"/api/v1/deployments/{dep['id']}", "/api/v1/projects/web",
                 f"/api/v1/deployments/{dep['id']}/logs?follow=0"):  # fmt: skip
        response = await other.get(path)
        assert response.status_code == 404, path
    assert (await other.get("/api/v1/projects")).json()["projects"] == []
    token_id = (await capstan.http.get("/api/v1/tokens")).json()["tokens"][0]["id"]
    assert (await other.delete(f"/api/v1/tokens/{token_id}")).status_code == 404
    me = (await people["dev-member"].get("/api/v1/me")).json()
    assert me["projects"] == [{"name": "web", "role": "member"}]


async def test_a_database_dump_cannot_be_used_to_sign_in(capstan: Capstan, people: Any) -> None:
    client = httpx.AsyncClient(base_url=capstan.settings.url)
    login = await client.post("/login", json={"username": "viewer", "password": PASSWORD})
    assert login.status_code == 200
    dump = await database_dump(capstan.settings.database_url)
    assert PASSWORD not in dump
    digests = set(re.findall(r"\b[0-9a-f]{64}\b", dump))
    assert digests
    for value in digests:
        bearer = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {value}"})
        assert bearer.status_code == 401
    await client.aclose()
    cookie = httpx.AsyncClient(base_url=capstan.settings.url)
    for value in list(digests)[:20]:
        cookie.cookies.set("capstan_session", value)
        assert (await cookie.get("/api/v1/me")).status_code == 401
    await cookie.aclose()


async def test_sessions_need_csrf_for_unsafe_requests_and_get_a_new_id(capstan: Capstan) -> None:
    password = (capstan.settings.data_dir / "initial-admin-password").read_text().strip()
    browser = httpx.AsyncClient(base_url=capstan.settings.url)
    first = await browser.post("/login", json={"username": "admin", "password": password})
    first_id = browser.cookies["capstan_session"]
    assert "httponly" in first.headers["set-cookie"].lower()
    assert "samesite=lax" in first.headers["set-cookie"].lower()
    second = await browser.post("/login", json={"username": "admin", "password": password})
    assert browser.cookies["capstan_session"] != first_id
    csrf = second.json()["csrf_token"]
    assert (await browser.get("/api/v1/me")).status_code == 200
    body = {"name": "web", "stages": [{"name": "a", "run": "true"}]}
    refused = await browser.post("/api/v1/projects", json=body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    cross = await browser.post(
        "/api/v1/projects",
        json=body,
        headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403
    made = await browser.post("/api/v1/projects", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    out = await browser.post("/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    browser.cookies.set("capstan_session", first_id)
    assert (await browser.get("/api/v1/me")).status_code == 401
    await browser.aclose()


async def test_failed_logins_are_throttled_without_locking_out_others(
    capstan: Capstan, people: Any
) -> None:
    client = httpx.AsyncClient(base_url=capstan.settings.url)
    for _ in range(5):
        bad = await client.post("/login", json={"username": "viewer", "password": "wrong-one!"})
        assert bad.status_code == 401
    blocked = await client.post("/login", json={"username": "viewer", "password": PASSWORD})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    other = await client.post("/login", json={"username": "manager", "password": PASSWORD})
    assert other.status_code == 200
    await client.aclose()


async def test_passwords_are_checked(capstan: Capstan) -> None:
    for password in ("short", "password123", "x" * 1025):
        body = {"username": "weak", "password": password, "role": "viewer"}
        response = await capstan.http.post("/api/v1/users", json=body)
        assert response.status_code == 422 and response.json()["error"]["field"] == "password"


async def test_disabling_a_user_ends_their_sessions_tokens_and_open_streams(
    capstan: Capstan, people: Any
) -> None:
    await capstan.http.patch(
        "/api/v1/projects/web", json={"stages": [{"name": "gate", "approval": True}]}
    )
    dep = await capstan.trigger()
    viewer = people["viewer"]
    closed = asyncio.Event()

    async def read() -> None:
        async with viewer.stream("GET", f"/api/v1/deployments/{dep['id']}/logs") as response:
            assert response.status_code == 200
            async for _ in response.aiter_bytes():
                pass
        closed.set()

    reader = asyncio.create_task(read())
    await asyncio.sleep(1)
    assert not closed.is_set()
    await capstan.http.patch("/api/v1/users/viewer", json={"disabled": True})
    await asyncio.wait_for(closed.wait(), 15)
    await reader
    assert (await viewer.get("/api/v1/me")).status_code == 401
    await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")


async def test_audit_trail_records_actions_and_detects_tampering(
    capstan: Capstan, people: Any
) -> None:
    await capstan.http.put("/api/v1/projects/web/secrets/API_KEY", json={"value": "hush-hush-1"})
    await people["dev-other"].get("/api/v1/projects/web")
    events = (await capstan.http.get("/api/v1/audit?limit=500")).json()["events"]
    actions = {e["action"] for e in events}
    for action in ("project.create", "user.create", "member.set", "login", "token.create",
                   "secret.set", "permission.denied"):  # fmt: skip
        assert action in actions, action
    secret_event = next(e for e in events if e["action"] == "secret.set")
    assert secret_event["target"] == "API_KEY" and "hush-hush" not in str(events)
    owner_view = (await people["dev-owner"].get("/api/v1/audit")).json()["events"]
    assert owner_view and all(e["project"] == "web" for e in owner_view)
    filtered = (await capstan.http.get("/api/v1/audit?action=secret.set")).json()["events"]
    assert [e["action"] for e in filtered] == ["secret.set"]

    assert (await verify(capstan))[0] == 0
    from app.models import AuditEvent

    await AuditEvent.filter(id=3).update(actor="mallory")
    code, out = await verify(capstan)
    assert code == 1 and "event 3 is broken" in out


async def test_fifty_concurrent_audited_actions_make_one_unbroken_chain(capstan: Capstan) -> None:
    await capstan.create_project()
    puts = [
        capstan.http.put(f"/api/v1/projects/web/secrets/KEY_{n}", json={"value": f"value-{n:04}"})
        for n in range(50)
    ]
    assert {r.status_code for r in await asyncio.gather(*puts)} == {204}
    code, out = await verify(capstan)
    assert code == 0, out
    from app.models import AuditEvent

    assert await AuditEvent.filter(action="secret.set").count() == 50
    await AuditEvent.filter(id=5).delete()
    code, out = await verify(capstan)
    assert code == 1 and "event 5 is missing" in out


async def verify(capstan: Capstan) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "audit", "verify",
        env={"PATH": "/usr/bin:/bin", "CAPSTAN_DATA_DIR": str(capstan.settings.data_dir),
             "CAPSTAN_DATABASE_URL": capstan.settings.database_url},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_metrics_open_to_anyone_only_when_configured(capstan: Capstan, people: Any) -> None:
    assert (await people["viewer"].get("/metrics")).status_code == 403
    anonymous = httpx.AsyncClient(base_url=capstan.settings.url)
    assert (await anonymous.get("/metrics")).status_code == 401
    assert (await anonymous.get("/healthz")).status_code == 200
    await anonymous.aclose()


async def test_metrics_can_be_opened_to_anyone(settings: Settings) -> None:
    async with running_capstan(dataclasses.replace(settings, metrics_public=True)) as capstan:
        anonymous = httpx.AsyncClient(base_url=capstan.settings.url)
        response = await anonymous.get("/metrics")
        assert response.status_code == 200 and "capstan_deployments" in response.text
        assert (await anonymous.get("/api/v1/queue")).status_code == 401
        await anonymous.aclose()
