"""The attacker's side of issue 9: each test tries one hole the way an attacker would and
checks it is closed (each fails on the code before the fix). Only the one that stores audit
events by project id depends on the SQL dialect; the rest run on SQLite alone."""

from __future__ import annotations

import base64
import dataclasses
import stat
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import Capstan, Repo, git, running_capstan
from payloads import body_of, github_headers, github_push

from app.accounts.auth import create_token
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


@pytest.mark.one_database
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


@pytest.mark.one_database
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


@pytest.mark.one_database
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


# 7. Proxy headers count only from configured proxies.


async def failed_login(http: httpx.AsyncClient, username: str, forwarded: str) -> httpx.Response:
    return await http.post(
        "/login",
        json={"username": username, "password": "not the password"},
        headers={"X-Forwarded-For": forwarded, "Authorization": ""},
    )


async def last_failed_login_address(capstan: Capstan) -> str:
    events = (await capstan.http.get("/api/v1/audit?action=login.failed&limit=1")).json()
    address: str = events["events"][0]["client"]
    return address


@pytest.mark.one_database
async def test_x_forwarded_for_from_an_untrusted_client_is_ignored(capstan: Capstan) -> None:
    await failed_login(capstan.http, "admin", "203.0.113.7")
    assert await last_failed_login_address(capstan) == "127.0.0.1"
    # A fresh address and user name each time used to get past the per-address throttle
    # (20 failures from one address, the one above included).
    for n in range(19):
        response = await failed_login(capstan.http, f"user{n}", f"198.51.100.{n}")
        assert response.status_code == 401, n
    blocked = await failed_login(capstan.http, "user19", "198.51.100.19")
    assert blocked.status_code == 429


@pytest.mark.one_database
async def test_x_forwarded_for_counts_from_a_trusted_proxy(settings: Settings) -> None:
    trusting = dataclasses.replace(settings, trusted_proxies="10.0.0.1, 127.0.0.1")
    async with running_capstan(trusting) as capstan:
        await failed_login(capstan.http, "admin", "203.0.113.7")
        assert await last_failed_login_address(capstan) == "203.0.113.7"


# 4. Repositories: nothing inside the data dir, other local paths for admins only.


async def test_a_repo_url_into_the_data_dir_is_refused_however_it_is_spelled(
    capstan: Capstan, clients: dict[str, httpx.AsyncClient], repo: Repo, tmp_path: Path
) -> None:
    await capstan.create_project("victim", repo_url=repo.url)
    await capstan.wait_for((await capstan.trigger("victim"))["id"], "COMPLETED")
    mirror = capstan.settings.projects_dir / "victim" / "mirror.git"
    assert (mirror / "HEAD").exists()
    (tmp_path / "link").symlink_to(capstan.settings.data_dir)
    (tmp_path / "sub").mkdir()
    spellings = [
        str(mirror),
        f"file://{mirror}",
        f"file://localhost{mirror}",
        f"file://{str(mirror).replace('victim', 'vic%74im')}",
        str(tmp_path / "link" / "projects" / "victim" / "mirror.git"),
        str(tmp_path / "sub" / ".." / "data" / "projects" / "victim" / "mirror.git"),
        str(capstan.settings.data_dir),
    ]
    stages = [{"name": "x", "run": "true"}]
    for url in spellings:  # refused even for an admin
        body = {"name": "thief", "repo_url": url, "stages": stages}
        made = await capstan.http.post("/api/v1/projects", json=body)
        assert made.status_code == 422, (url, made.text)
        assert made.json()["error"]["field"] == "repo_url"
    await capstan.create_project("thief")
    patched = await capstan.http.patch("/api/v1/projects/thief", json={"repo_url": str(mirror)})
    assert patched.status_code == 422
    for url in ("ext::sh -c touch% /tmp/pwned", "fd::17", "relative/path.git", "ftp://h/x"):
        made = await capstan.http.patch("/api/v1/projects/thief", json={"repo_url": url})
        assert made.status_code == 422, (url, made.text)


async def test_a_repo_url_into_the_data_dir_stored_earlier_is_refused_at_checkout(
    capstan: Capstan, repo: Repo
) -> None:
    await capstan.create_project("victim", repo_url=repo.url)
    await capstan.wait_for((await capstan.trigger("victim"))["id"], "COMPLETED")
    commit = git(repo.path, "rev-parse", "HEAD")
    secret = (await capstan.create_project("thief"))["webhook_secret"]
    from app.models import Project

    mirror = capstan.settings.projects_dir / "victim" / "mirror.git"
    await Project.filter(name="thief").update(repo_url=str(mirror))
    triggered = await capstan.http.post("/api/v1/projects/thief/deployments", json={})
    assert triggered.status_code == 422 and triggered.json()["error"]["field"] == "repo_url"
    body = body_of(github_push("refs/heads/main", commit))
    pushed = await capstan.http.post(
        "/hooks/github/thief", content=body, headers=github_headers(secret, body)
    )
    dep = await capstan.wait_for(pushed.json()["deployment"], "FAILED")
    assert "data directory" in dep["error"] and dep["release"] is None


async def test_local_repos_are_for_admins_unless_the_operator_allows_them(
    settings: Settings, repo: Repo
) -> None:
    stages = [{"name": "x", "run": "true"}]
    for allowed, expected in ((False, 403), (True, 201)):
        local = dataclasses.replace(settings, allow_local_repos=allowed)
        async with running_capstan(local) as capstan:
            n = int(allowed)
            user = await User.create(username=f"dev{n}", password_hash="!", role="developer")
            _, token = await create_token(user, "t", None)
            headers = {"Authorization": f"Bearer {token}"}
            body = {"name": f"mine{n}", "repo_url": f"file://{repo.path}", "stages": stages}
            made = await capstan.http.post("/api/v1/projects", json=body, headers=headers)
            assert made.status_code == expected, made.text
            url = "https://git.example/x.git"
            remote = {"name": f"theirs{n}", "repo_url": url, "stages": stages}
            made = await capstan.http.post("/api/v1/projects", json=remote, headers=headers)
            assert made.status_code == 201, made.text


# 4. Credentials for a repository are never shown, logged, audited or written into a URL.

GIT_TOKEN = "glpat-s3cr3t-t0ken-value"


@dataclasses.dataclass
class GitServer:
    """A real git server over dumb HTTP on 127.0.0.1 that wants Basic credentials."""

    url: str
    authorized: list[str]


@pytest.fixture
def git_server(repo: Repo, tmp_path: Path) -> Iterator[GitServer]:
    root = tmp_path / "served"
    root.mkdir()
    git(root, "clone", "-q", "--bare", str(repo.path), "repo.git")
    git(root / "repo.git", "update-server-info")
    expected = "Basic " + base64.b64encode(f"deploy:{GIT_TOKEN}".encode()).decode()
    state = GitServer("", [])

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            state.authorized.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/repo.git"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


async def everything_shown(capstan: Capstan, dep_id: str) -> str:
    """What users could ever see: the project, the deployment, its log and the audit trail."""
    parts = [
        (await capstan.http.get("/api/v1/projects")).text,
        (await capstan.http.get(f"/api/v1/deployments/{dep_id}")).text,
        await capstan.log(dep_id),
        (await capstan.http.get("/api/v1/audit?limit=500")).text,
    ]
    return "\n".join(parts)


async def test_credentials_in_the_repo_url_are_used_but_never_shown(
    capstan: Capstan, git_server: GitServer
) -> None:
    url = git_server.url.replace("http://", f"http://deploy:{GIT_TOKEN}@")
    shown = (await capstan.create_project(repo_url=url))["repo_url"]
    assert shown == git_server.url.replace("http://", "http://***@")
    dep = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    assert git_server.authorized
    changed = await capstan.http.patch("/api/v1/projects/web", json={"repo_url": shown})
    assert changed.status_code == 200  # the URL as shown, sent back, keeps its credentials
    await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    assert GIT_TOKEN not in await everything_shown(capstan, dep["id"])
    mirror = capstan.settings.projects_dir / "web" / "mirror.git"
    assert GIT_TOKEN not in (mirror / "config").read_text()


async def test_repository_credentials_can_come_from_project_secrets(
    capstan: Capstan, git_server: GitServer
) -> None:
    await capstan.create_project(repo_url=git_server.url)
    refused = await capstan.http.post("/api/v1/projects/web/deployments", json={})
    assert refused.status_code == 503  # no credentials: the server says 401
    for name, value in (("GIT_USERNAME", "deploy"), ("GIT_PASSWORD", GIT_TOKEN)):
        put = await capstan.http.put(f"/api/v1/projects/web/secrets/{name}", json={"value": value})
        assert put.status_code in (200, 204)  # 200: a short value, with a warning
    dep = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    assert GIT_TOKEN not in await everything_shown(capstan, dep["id"])


# 7. Login CSRF: another site cannot sign a browser in (to the attacker's account).


@pytest.mark.one_database
async def test_sign_in_takes_only_json_and_refuses_other_sites(capstan: Capstan) -> None:
    password = (capstan.settings.data_dir / "initial-admin-password").read_text().strip()
    body = f'{{"username": "admin", "password": "{password}"}}'
    browser = httpx.AsyncClient(base_url=capstan.settings.url)
    simple = await browser.post("/login", content=body, headers={"Content-Type": "text/plain"})
    assert simple.status_code == 415
    json_type = {"Content-Type": "application/json"}
    for foreign in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site"}):  # fmt: skip
        refused = await browser.post("/login", content=body, headers={**json_type, **foreign})
        assert refused.status_code == 403, foreign
        assert refused.json()["error"]["code"] == "cross_site"
    assert not browser.cookies
    same = {"Origin": capstan.settings.url, "Sec-Fetch-Site": "same-origin"}
    signed_in = await browser.post("/login", content=body, headers={**json_type, **same})
    assert signed_in.status_code == 200 and browser.cookies
    csrf = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
    forged = await browser.post(
        "/api/v1/tokens", json={}, headers={**csrf, "Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    await browser.aclose()
