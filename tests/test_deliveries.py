"""What real forges' deliveries mean: what each signs, late and out-of-order pushes, payloads
that do not list every changed file, deleted tags, refused pushes, unreadable bodies, and the
webhook addresses and secret a forge is given."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from conftest import Capstan, Repo, database_dump, free_port, git, running_capstan
from payloads import (
    ZERO,
    body_of,
    forgejo_headers,
    gitea_headers,
    gitea_push,
    github_headers,
    github_push,
    gitlab_headers,
    gitlab_push,
    go_form,
)

from app.settings import Settings

FORM = "application/x-www-form-urlencoded"


async def hook(capstan: Capstan, provider: str, body: bytes, headers: dict[str, str]) -> Any:
    return await capstan.http.post(f"/hooks/{provider}/web", content=body, headers=headers)


async def deliveries(capstan: Capstan) -> dict[str, dict[str, Any]]:
    listed = (await capstan.http.get("/api/v1/projects/web/deliveries")).json()["deliveries"]
    return {d["delivery"]: d for d in listed}


async def github(capstan: Capstan, secret: str, delivery: str, payload: dict[str, Any]) -> str:
    """Deliver a GitHub push; the id of the deployment it started."""
    body = body_of(payload)
    response = await hook(capstan, "github", body, github_headers(secret, body, delivery=delivery))
    assert response.status_code == 202 and "deployment" in response.json(), response.text
    dep_id: str = response.json()["deployment"]
    return dep_id


async def test_gitea_and_forgejo_sign_the_json_of_a_form_delivery(capstan: Capstan) -> None:
    secret = (await capstan.create_project())["webhook_secret"]
    for n, headers_of in enumerate((gitea_headers, forgejo_headers)):
        signed = body_of(gitea_push("refs/heads/main", str(n + 1) * 40))
        form = go_form(signed)
        headers = headers_of(secret, signed, delivery=f"form-{n}") | {"Content-Type": FORM}
        response = await hook(capstan, "gitea", form, headers)
        assert response.status_code == 202 and "deployment" in response.json(), response.text
        over_form = headers_of(secret, form, delivery=f"wrong-{n}") | {"Content-Type": FORM}
        assert (await hook(capstan, "gitea", form, over_form)).status_code == 401
    # GitHub signs the raw body, form or not: a signature of the JSON alone is wrong.
    signed = body_of(github_push("refs/heads/main", "3" * 40))
    form = urlencode({"payload": signed.decode()}).encode()
    headers = github_headers(secret, signed, delivery="gh-form") | {"Content-Type": FORM}
    assert (await hook(capstan, "github", form, headers)).status_code == 401
    assert set(await deliveries(capstan)) == {"form-0", "form-1"}


async def test_a_late_push_of_an_older_commit_is_skipped_and_current_stays(
    capstan: Capstan, repo: Repo
) -> None:
    secret = (await capstan.create_project(repo_url=repo.url))["webhook_secret"]
    v1 = repo.commit({"app.txt": "v1.1\n"})
    v2 = repo.commit({"app.txt": "v2\n"})
    newer = await github(capstan, secret, "v2", github_push("refs/heads/main", v2, before=v1))
    deployed = await capstan.wait_for(newer, "COMPLETED")
    late = await github(capstan, secret, "v1", github_push("refs/heads/main", v1))
    skipped = await capstan.wait_for(late, "CANCELLED")
    reason = f"skipped: {v1[:12]} is older than the deployed {v2[:12]}"
    assert skipped["error"] == reason and skipped["release"] is None
    assert [s["status"] for s in skipped["stages"]] == ["skipped"]
    project = (await capstan.http.get("/api/v1/projects/web")).json()
    assert project["current_deployment"] == newer
    current = capstan.settings.projects_dir / "web" / "current"
    assert os.readlink(current) == deployed["release"]
    record = (await deliveries(capstan))["v1"]
    assert record["outcome"] == "ignored" and record["reason"] == reason
    assert record["deployment"] == late
    # A replay or a manual trigger deploys any commit.
    replayed = await capstan.http.post(f"/api/v1/projects/web/deliveries/{record['id']}/replay")
    assert (await capstan.wait_for(replayed.json()["id"], "COMPLETED"))["commit"] == v1
    manual = await capstan.trigger(ref=v2)
    await capstan.wait_for(manual["id"], "COMPLETED")
    again = await capstan.trigger(ref=v1)
    assert (await capstan.wait_for(again["id"], "COMPLETED"))["commit"] == v1


async def test_a_push_deploys_while_it_is_the_tip_or_newer_than_the_deployed(
    capstan: Capstan, repo: Repo
) -> None:
    secret = (await capstan.create_project(repo_url=repo.url))["webhook_secret"]
    c1 = repo.commit({"app.txt": "c1\n"})
    repo.commit({"app.txt": "c2\n"})

    async def gitea(delivery: str, commit: str, before: str = ZERO) -> dict[str, Any]:
        body = body_of(gitea_push("refs/heads/main", commit, before=before))
        headers = gitea_headers(secret, body, delivery=delivery)
        response = await hook(capstan, "gitea", body, headers)
        assert response.status_code == 202, response.text
        return await capstan.wait_for(response.json()["deployment"], "COMPLETED", "CANCELLED")

    # Nothing deployed yet: c1 deploys though main has moved on.
    assert (await gitea("c1", c1))["status"] == "COMPLETED"
    c3 = repo.commit({"app.txt": "c3\n"})
    c4 = repo.commit({"app.txt": "c4\n"})
    # c3 is not the tip, but it descends from the deployed c1.
    assert (await gitea("c3", c3))["status"] == "COMPLETED"
    # A force push back to c1: older than the deployed c3, but it is what main points to.
    git(repo.path, "reset", "-q", "--hard", c1)
    back = await gitea("back-to-c1", c1, before=c4)
    assert back["status"] == "COMPLETED" and back["commit"] == c1


async def test_a_new_branch_of_existing_commits_is_decided_in_the_mirror(
    capstan: Capstan, repo: Repo
) -> None:
    created = await capstan.create_project(repo_url=repo.url, branch="release", paths=["*"])
    secret = created["webhook_secret"]
    c0 = git(repo.path, "rev-parse", "HEAD")

    async def branch_created(delivery: str, commit: str) -> dict[str, Any]:
        """GitHub's push for a new branch at an existing commit: `created`, no commits."""
        git(repo.path, "branch", "-f", "release", commit)
        payload = github_push("refs/heads/release", commit) | {"commits": []}
        dep_id = await github(capstan, secret, delivery, payload)
        return await capstan.wait_for(dep_id, "COMPLETED", "CANCELLED")

    # Nothing deployed to compare with: it deploys.
    assert (await branch_created("new", c0))["status"] == "COMPLETED"
    await capstan.http.patch("/api/v1/projects/web", json={"paths": ["src/*"]})
    docs = repo.commit({"docs/guide.md": "words\n"})
    skipped = await branch_created("docs", docs)
    reason = f"skipped: no file changed from {c0[:12]} to {docs[:12]} matches paths"
    assert skipped["status"] == "CANCELLED" and skipped["error"] == reason
    assert (await deliveries(capstan))["docs"]["outcome"] == "ignored"
    code = repo.commit({"src/app.py": "print(1)\n"})
    assert (await branch_created("code", code))["status"] == "COMPLETED"


def listing(payload: dict[str, Any], files: list[list[str]]) -> dict[str, Any]:
    """`payload` listing one commit per entry of `files`, each changing those files."""
    commits = []
    for n, changed in enumerate(files):
        commit = copy.deepcopy(payload["commits"][0])
        commit.update(id=f"{n:040x}", added=[], removed=[], modified=changed)
        commits.append(commit)
    return payload | {"commits": commits}


async def test_paths_read_every_listed_commit_and_the_mirror_when_a_list_is_cut(
    capstan: Capstan, repo: Repo
) -> None:
    secret = (await capstan.create_project(repo_url=repo.url, paths=["src/*"]))["webhook_secret"]
    c0 = git(repo.path, "rev-parse", "HEAD")
    # GitHub lists up to 2048 commits: 25 that all miss `paths` are decided at once.
    docs_only = listing(github_push("refs/heads/main", "d" * 40), [["docs/a.md"]] * 25)
    body = body_of(docs_only)
    response = await hook(capstan, "github", body, github_headers(secret, body, delivery="25"))
    assert response.json() == {"ignored": "no changed file matches paths"}
    code = repo.commit({"src/app.py": "print(1)\n", "docs/a.md": "a\n"})
    docs = repo.commit({"docs/a.md": "b\n"})

    async def gitlab(delivery: str, commit: str, before: str) -> dict[str, Any]:
        """GitLab lists at most 20 commits; `total_commits_count` says how many there were."""
        payload = gitlab_push("refs/heads/main", commit, before=before)
        payload = listing(payload, [["docs/a.md"]] * 20) | {"total_commits_count": 25}
        headers = gitlab_headers(secret, delivery=delivery)
        response = await hook(capstan, "gitlab", body_of(payload), headers)
        assert response.status_code == 202 and "deployment" in response.json(), response.text
        return await capstan.wait_for(response.json()["deployment"], "COMPLETED", "CANCELLED")

    # The 20 listed touch only docs, but c0..code changed src/app.py.
    assert (await gitlab("cut-code", code, before=c0))["status"] == "COMPLETED"
    skipped = await gitlab("cut-docs", docs, before=code)
    reason = f"skipped: no file changed from {code[:12]} to {docs[:12]} matches paths"
    assert skipped["status"] == "CANCELLED" and skipped["error"] == reason


async def test_a_gitlab_tag_push_of_a_tag_that_no_longer_exists_is_ignored(
    capstan: Capstan, repo: Repo
) -> None:
    secret = (await capstan.create_project(repo_url=repo.url, deploy_tags="v*"))["webhook_secret"]
    tagged = git(repo.path, "rev-parse", "HEAD")
    git(repo.path, "tag", "v1.0")
    headers = gitlab_headers(secret, "Tag Push Hook", delivery="tag")
    body = body_of(gitlab_push("refs/tags/v1.0", tagged, tag=True))
    response = await hook(capstan, "gitlab", body, headers)
    dep = await capstan.wait_for(response.json()["deployment"], "COMPLETED")
    assert dep["ref"] == "v1.0" and dep["commit"] == tagged
    gone = gitlab_push("refs/tags/v1.0", tagged, tag=True) | {"checkout_sha": None}
    headers = gitlab_headers(secret, "Tag Push Hook", delivery="gone")
    response = await hook(capstan, "gitlab", body_of(gone), headers)
    assert response.status_code == 202
    assert response.json() == {"ignored": "refs/tags/v1.0 was deleted"}
    listed = (await capstan.http.get("/api/v1/projects/web/deployments")).json()["deployments"]
    assert [d["id"] for d in listed] == [dep["id"]]


async def test_a_push_refused_by_concurrency_reject_runs_when_redelivered(
    capstan: Capstan,
) -> None:
    stages = [{"name": "wait", "approval": True}]
    secret = (await capstan.create_project(stages=stages, concurrency="reject"))["webhook_secret"]
    running = await capstan.trigger()
    await capstan.awaiting_approval(running["id"])
    body = body_of(gitlab_push("refs/heads/main", "e" * 40))
    headers = gitlab_headers(secret, delivery="busy")
    for _ in range(2):
        refused = await hook(capstan, "gitlab", body, headers)
        assert refused.status_code == 202, refused.text
        assert refused.json() == {"ignored": "a deployment of web is active; redeliver to deploy"}
        record = (await deliveries(capstan))["busy"]
        assert record["outcome"] == "refused" and record["status_code"] == 202
    await capstan.http.post(f"/api/v1/deployments/{running['id']}/cancel")
    processed = await hook(capstan, "gitlab", body, headers)
    assert processed.status_code == 202 and "deployment" in processed.json(), processed.text
    again = await hook(capstan, "gitlab", body, headers)
    assert again.status_code == 200
    assert again.json() == {"duplicate": True, "deployment": processed.json()["deployment"]}
    assert [d["outcome"] for d in (await deliveries(capstan)).values()] == ["deployed"]
    await capstan.http.post(f"/api/v1/deployments/{processed.json()['deployment']}/cancel")


async def test_projects_show_absolute_webhook_urls_for_every_forge(settings: Settings) -> None:
    public = dataclasses.replace(settings, public_url="https://cap.example/")
    async with running_capstan(public) as capstan:
        created = await capstan.create_project()
        shown = (await capstan.http.get("/api/v1/projects/web")).json()
        for project in (created, shown):
            assert project["webhook_url"] == "/hooks/github/web"
            assert project["webhook_urls"] == {
                "github": "https://cap.example/hooks/github/web",
                "gitlab": "https://cap.example/hooks/gitlab/web",
                "gitea": "https://cap.example/hooks/gitea/web",
            }


async def test_a_webhook_secret_can_be_set_and_is_audited_without_its_value(
    capstan: Capstan,
) -> None:
    created = await capstan.create_project()
    assert created["webhook_urls"]["gitlab"] == f"{capstan.settings.url}/hooks/gitlab/web"
    chosen = "moved-from-the-old-server-0123"
    url = "/api/v1/projects/web/webhook-secret"
    response = await capstan.http.post(url, json={"secret": chosen})
    assert response.status_code == 200 and response.json() == {"webhook_secret": chosen}
    body = body_of(gitlab_push("refs/heads/main", "a" * 40))
    assert (await hook(capstan, "gitlab", body, gitlab_headers(chosen))).status_code == 202
    old = gitlab_headers(created["webhook_secret"], delivery="old")
    assert (await hook(capstan, "gitlab", body, old)).status_code == 401
    bad = [
        ({"secret": "fifteen-chars!!"}, "secret"),
        ({"secret": "x" * 257}, "secret"),
        ({"secret": "with spaces in the middle"}, "secret"),
        ({"secret": "ünïcödé-is-not-ascii"}, "secret"),
        ({"secret": 1234567890123456789}, "secret"),
        ({"secret": None}, "secret"),
        ({"secret": chosen, "other": 1}, "other"),
    ]
    for data, field in bad:
        refused = await capstan.http.post(url, json=data)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == field, data
    assert (await capstan.http.post(url, content=b"{")).status_code == 400
    rotated = (await capstan.http.post(url)).json()["webhook_secret"]
    assert rotated != chosen and len(rotated) >= 32
    events = (await capstan.http.get("/api/v1/audit?project=web")).json()["events"]
    actions = [e["action"] for e in events]
    assert actions.count("webhook_secret.set") == 1 and actions.count("webhook_secret.rotate") == 1
    assert chosen not in json.dumps(events)
    assert chosen not in await database_dump(capstan.settings.database_url)
    doc = (await capstan.http.get("/api/v1/openapi.json")).json()
    operation = doc["paths"]["/api/v1/projects/{project}/webhook-secret"]["post"]
    request_body = operation["requestBody"]
    assert request_body["required"] is False
    schema = request_body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert doc["components"]["schemas"][schema]["properties"]["secret"]["type"] == "string"


async def test_a_signed_delivery_with_an_unreadable_body_is_recorded_without_it(
    capstan: Capstan,
) -> None:
    secret = (await capstan.create_project())["webhook_secret"]
    body = b'{"ref": "refs/heads/main", "after": "unreadable-7f3a'
    response = await hook(capstan, "github", body, github_headers(secret, body, delivery="cut"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_payload"
    response = await hook(capstan, "gitlab", body, gitlab_headers(secret, delivery="cut"))
    assert response.status_code == 400
    recorded = (await capstan.http.get("/api/v1/projects/web/deliveries")).json()["deliveries"]
    shown = sorted((d["provider"], d["outcome"], d["status_code"], d["event"]) for d in recorded)
    assert shown == [
        ("github", "bad_payload", 400, "push"),
        ("gitlab", "bad_payload", 400, "push"),
    ]
    assert all(d["size"] == len(body) and d["deployment"] is None for d in recorded)
    assert "unreadable-7f3a" not in await database_dump(capstan.settings.database_url)
    assert (await capstan.http.get("/api/v1/projects/web/deployments")).json()["deployments"] == []
    # Redelivered whole, the same delivery id is processed.
    whole = body_of(github_push("refs/heads/main", "7" * 40))
    response = await hook(capstan, "github", whole, github_headers(secret, whole, delivery="cut"))
    assert response.status_code == 202 and "deployment" in response.json(), response.text


async def test_a_failed_checkout_has_no_release_and_tells_gits_reason(
    capstan: Capstan, repo: Repo, tmp_path: Path
) -> None:
    missing = tmp_path / "gone.git"
    secret = (await capstan.create_project(repo_url=str(missing)))["webhook_secret"]

    async def failed(delivery: str, commit: str) -> dict[str, Any]:
        dep_id = await github(capstan, secret, delivery, github_push("refs/heads/main", commit))
        dep = await capstan.wait_for(dep_id, "FAILED")
        assert dep["release"] is None
        return dep

    dep = await failed("missing", "a" * 40)
    assert dep["error"] == (
        f"checkout failed: git clone exited with 128: fatal: repository '{missing}' does not exist"
    )
    await capstan.http.patch("/api/v1/projects/web", json={"repo_url": repo.url})
    dep = await failed("unknown-commit", "b" * 40)
    assert dep["error"].startswith(
        f"checkout failed: commit {'b' * 40} could not be exported from the mirror: fatal: "
    )
    closed = f"http://deployer:hunter2-token@127.0.0.1:{free_port()}/web.git"
    await capstan.http.patch("/api/v1/projects/web", json={"repo_url": closed})
    dep = await failed("unreachable", "c" * 40)
    assert dep["error"].startswith("checkout failed: git fetch exited with 128: fatal: ")
    assert "hunter2" not in dep["error"] and "127.0.0.1" in dep["error"]
    assert not list((capstan.settings.projects_dir / "web" / "releases").iterdir())
