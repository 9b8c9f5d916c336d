"""The attacker's side of issue 9: each test tries one hole the way an attacker would and
checks it is closed (each fails on the code before the fix)."""

from __future__ import annotations

import base64
import dataclasses
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from conftest import Capstan, Repo, git, running_capstan

from app.auth import create_token
from app.models import User
from app.settings import Settings


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


# 7. Control characters cannot redraw a terminal over a masked value.


async def test_the_plain_log_shows_control_characters_as_escapes(capstan: Capstan) -> None:
    # Split by a backspace or a cursor move the value is not masked (it is not in the text),
    # but a terminal would draw it whole: the plain-text log must not let it.
    script = (
        'printf "%s" "${TOKEN:0:6}"; printf "Q\\b"; printf "%s\\n" "${TOKEN:6}"\n'
        'printf "%s" "${TOKEN:0:6}"; printf "Q\\033[D"; printf "%s\\n" "${TOKEN:6}"\n'
        'printf "%s\\rcover\\n" "${TOKEN:0:6}"\n'
        'printf "tab\\there\\n"'
    )
    await capstan.create_project(stages=[{"name": "leak", "run": script}])
    response = await capstan.http.put(
        "/api/v1/projects/web/secrets/TOKEN", json={"value": "hunter22-swordfish"}
    )
    assert response.status_code == 204
    dep = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    text = await capstan.log(dep["id"])
    assert "hunterQ\\x08" in text and "hunterQ\\x1b[D" in text
    assert "tab\there" in text
    assert not [c for c in text if ord(c) < 32 and c not in "\t\n"], repr(text)


# 7. Masking catches the forms it missed: wrapped base64, hex, lowercase %2f, JSON's \/.


async def test_a_secret_printed_in_its_other_forms_stays_masked(capstan: Capstan) -> None:
    value = "s3cr3t/t0ken/with/slashes+and=padding-long-enough-to-wrap-in-base64-0123456789"
    script = "\n".join(
        [
            'printf "%s" "$TOKEN" | base64',
            'printf "ab%s" "$TOKEN" | base64',
            'printf "%s" "$TOKEN" | od -An -v -tx1 | tr -d " \\n"; echo',
            'printf "%s\\n" "$TOKEN" | sed "s|/|%2f|g; s|+|%2b|g; s|=|%3d|g"',
            'printf "%s\\n" "$TOKEN" | sed "s|/|\\\\/|g"',
        ]
    )
    await capstan.create_project(stages=[{"name": "leak", "run": script}])
    response = await capstan.http.put("/api/v1/projects/web/secrets/TOKEN", json={"value": value})
    assert response.status_code == 204
    dep = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    text = await capstan.log(dep["id"])
    joined = text.replace("\n", "")
    b64 = base64.b64encode(value.encode()).decode()
    shifted = base64.b64encode(b"ab" + value.encode()).decode()[4:]
    forms = [value, b64[:-4], shifted[:-4], value.encode().hex(), quote(value, safe="").lower()]
    for form in [*forms, value.replace("/", "\\/")]:
        assert form[4:-4] not in joined, form
    assert text.count("[MASKED]") == 5, text
    assert "t0ken" not in text


# 7. Nothing in the data dir is readable by other users; the first password does not linger.


def modes(root: Path) -> dict[str, int]:
    """Permission bits of `root` and everything under it but the projects' files."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        if path.relative_to(root).parts[:1] != ("projects",) or path.parent == root:
            found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


async def test_the_data_dir_and_its_files_are_private(settings: Settings, repo: Repo) -> None:
    # Embedded defaults: SQLite and the bundled Redis in the data dir, a generated master key.
    local = dataclasses.replace(settings, database_url="", redis_url="", master_key="")
    local.data_dir.mkdir(mode=0o755)
    (local.data_dir / "left-by-an-old-version").write_text("x")
    async with running_capstan(local) as capstan:
        await capstan.create_project(repo_url=repo.url)
        await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
        found = modes(local.data_dir)
    expected = {"master.key", "capstan.sqlite3", "capstan.sqlite3-wal", "capstan.sqlite3-shm",
                "appendonly.aof", "redis.log", "initial-admin-password", "projects"}  # fmt: skip
    assert expected <= found.keys(), sorted(found)
    assert found["."] == 0o700
    assert {name: mode for name, mode in found.items() if mode & 0o077} == {}


async def test_the_initial_admin_password_file_goes_once_the_password_changes(
    settings: Settings,
) -> None:
    path = settings.data_dir / "initial-admin-password"
    async with running_capstan(settings) as capstan:
        first = path.read_text()
        new = {"password": "a brand new passphrase"}
        assert (await capstan.http.patch("/api/v1/users/admin", json=new)).status_code == 200
        assert not path.exists()
    path.write_text(first)  # a restored backup, or a change made behind Capstan's back
    async with running_capstan(settings):
        assert not path.exists()


# 7. A new project that reuses a deleted one's name inherits nothing of it.


async def test_a_reused_project_name_inherits_no_audit_events_mirror_or_release(
    capstan: Capstan, clients: dict[str, httpx.AsyncClient], repo: Repo, tmp_path: Path
) -> None:
    secret_commit = repo.commit({"secret.txt": "the old team's secret\n"})
    await capstan.create_project(repo_url=repo.url)
    await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    await capstan.http.put("/api/v1/projects/web/secrets/OLD_KEY", json={"value": "old-value-1"})
    assert (await capstan.http.delete("/api/v1/projects/web")).status_code == 204

    other = Repo(tmp_path / "other")
    other.path.mkdir()
    git(other.path, "init", "-q", "-b", "main")
    other.commit({"app.txt": "mallory's\n"})
    peek = 'cat "$CAPSTAN_CURRENT_DIR/secret.txt" || true; ls -a "$CAPSTAN_CACHE_DIR"'
    await capstan.create_project(repo_url=other.url, stages=[{"name": "peek", "run": peek}])
    await member(capstan, "web", "mallory", "owner")
    mallory = clients["mallory"]

    events = (await mallory.get("/api/v1/audit?limit=500")).json()["events"]
    assert events and all(e["action"] in ("project.create", "member.set") for e in events)
    filtered = (await capstan.http.get("/api/v1/audit?project=web")).json()["events"]
    assert [e["action"] for e in filtered] == ["member.set", "project.create"]

    first = (await mallory.post("/api/v1/projects/web/deployments", json={})).json()
    first = await capstan.wait_for(first["id"], "COMPLETED")
    assert "the old team's secret" not in await capstan.log(first["id"])
    steal = await mallory.post("/api/v1/projects/web/deployments", json={"ref": secret_commit})
    stolen = await capstan.wait_for(steal.json()["id"], "COMPLETED", "FAILED")
    assert stolen["status"] == "FAILED" and "checkout failed" in stolen["error"]
    aside = capstan.settings.projects_dir / ".deleted"
    assert [p.name.split(".")[0] for p in aside.iterdir()] == ["web"]
