"""Push to deploy: signed deliveries from GitHub, GitLab and Gitea, exactly once."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import Capstan, RedisServer, Repo, git, running_capstan
from payloads import (
    ZERO,
    body_of,
    gitea_headers,
    gitea_push,
    github_headers,
    github_push,
    gitlab_headers,
    gitlab_push,
    sign,
)

from app.forges.providers import GitHub
from app.settings import Settings


async def hook(capstan: Capstan, provider: str, body: bytes, headers: dict[str, str]) -> Any:
    return await capstan.http.post(f"/hooks/{provider}/web", content=body, headers=headers)


async def nothing_stored(capstan: Capstan) -> None:
    deliveries = (await capstan.http.get("/api/v1/projects/web/deliveries")).json()
    deployments = (await capstan.http.get("/api/v1/projects/web/deployments")).json()
    assert deliveries["deliveries"] == [] and deployments["deployments"] == []


def test_githubs_documented_test_vector_verifies() -> None:
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    digest = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert GitHub().verify({"x-hub-signature-256": f"sha256={digest}"}, body, secret)
    assert not GitHub().verify({"x-hub-signature-256": f"sha256={digest}"}, body + b" ", secret)


@pytest.mark.parametrize(
    "signature",
    [
        "changed byte",
        "wrong secret",
        "sha1=",
        "missing",
        "",
        "sha256=",
        "sha256=abc123",
        "sha256=" + "z" * 64,
    ],
)
async def test_bad_signatures_are_401_and_store_nothing(capstan: Capstan, signature: str) -> None:
    secret = (await capstan.create_project())["webhook_secret"]
    body = body_of(github_push("refs/heads/main", "a" * 40))
    headers = github_headers(secret, body)
    if signature == "changed byte":
        body = body.replace(b"Codertocat", b"Codertocad", 1)
    elif signature == "wrong secret":
        headers = github_headers(secret + "x", body)
    elif signature == "missing":
        del headers["X-Hub-Signature-256"]
    elif signature == "sha1=":
        headers["X-Hub-Signature-256"] = "sha1=" + sign(secret, body)[:40]
    else:
        headers["X-Hub-Signature-256"] = signature
    response = await hook(capstan, "github", body, headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    await nothing_stored(capstan)


async def test_gitlab_token_and_gitea_signature_are_checked(capstan: Capstan) -> None:
    secret = (await capstan.create_project())["webhook_secret"]
    body = body_of(gitlab_push("refs/heads/main", "a" * 40))
    assert (await hook(capstan, "gitlab", body, gitlab_headers("nope"))).status_code == 401
    headers = gitlab_headers(secret)
    del headers["X-Gitlab-Token"]
    assert (await hook(capstan, "gitlab", body, headers)).status_code == 401
    body = body_of(gitea_push("refs/heads/main", "a" * 40))
    headers = gitea_headers(secret, body)
    headers["X-Gitea-Signature"] = sign("other", body)
    assert (await hook(capstan, "gitea", body, headers)).status_code == 401
    await nothing_stored(capstan)


async def test_github_push_deploys_that_exact_commit(capstan: Capstan, repo: Repo) -> None:
    secret = (await capstan.create_project(repo_url=repo.url))["webhook_secret"]
    pushed = repo.commit({"app.txt": "v2\n"})
    repo.commit({"app.txt": "v3\n"})
    body = body_of(github_push("refs/heads/main", pushed))
    response = await hook(capstan, "github", body, github_headers(secret, body, delivery="abc"))
    assert response.status_code == 202, response.text
    dep = await capstan.wait_for(response.json()["deployment"], "COMPLETED")
    assert dep["commit"] == pushed and dep["ref"] == "main"
    assert dep["trigger"] == {"type": "webhook", "by": "Codertocat", "delivery": "abc"}
    audited = await capstan.http.get("/api/v1/audit?action=deployment.trigger")
    event = audited.json()["events"][0]
    assert event["actor"] == "webhook:abc" and event["actor_type"] == "webhook"
    assert event["target"] == dep["id"]
    release = capstan.settings.projects_dir / "web" / dep["release"]
    assert (release / "app.txt").read_text() == "v2\n"


async def test_gitlab_push_deploys_that_exact_commit(capstan: Capstan, repo: Repo) -> None:
    secret = (await capstan.create_project(repo_url=repo.url))["webhook_secret"]
    pushed = repo.commit({"app.txt": "gitlab\n"})
    body = body_of(gitlab_push("refs/heads/main", pushed))
    response = await hook(capstan, "gitlab", body, gitlab_headers(secret, delivery="idem-1"))
    assert response.status_code == 202, response.text
    dep = await capstan.wait_for(response.json()["deployment"], "COMPLETED")
    assert dep["commit"] == pushed
    assert dep["trigger"] == {"type": "webhook", "by": "jsmith", "delivery": "idem-1"}


async def test_gitea_push_with_githubs_headers_too_is_handled_as_gitea(
    capstan: Capstan, repo: Repo
) -> None:
    secret = (await capstan.create_project(repo_url=repo.url))["webhook_secret"]
    pushed = repo.commit({"app.txt": "gitea\n"})
    body = body_of(gitea_push("refs/heads/main", pushed))
    response = await hook(capstan, "gitea", body, gitea_headers(secret, body, delivery="t-42"))
    assert response.status_code == 202, response.text
    dep = await capstan.wait_for(response.json()["deployment"], "COMPLETED")
    assert dep["commit"] == pushed and dep["trigger"]["delivery"] == "t-42"
    deliveries = (await capstan.http.get("/api/v1/projects/web/deliveries")).json()["deliveries"]
    assert deliveries[0]["provider"] == "gitea" and deliveries[0]["delivery"] == "t-42"


async def test_form_encoded_payload_with_non_ascii_text_verifies(capstan: Capstan) -> None:
    secret = (await capstan.create_project())["webhook_secret"]
    payload = github_push("refs/heads/main", "b" * 40)
    body = urlencode({"payload": body_of(payload).decode()}).encode()
    headers = github_headers(secret, body, delivery="form-1")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    response = await hook(capstan, "github", body, headers)
    assert response.status_code == 202, response.text
    dep = await capstan.deployment(response.json()["deployment"])
    assert dep["commit"] == "b" * 40


async def test_ping_is_200_and_other_events_and_refs_are_ignored(capstan: Capstan) -> None:
    secret = (await capstan.create_project())["webhook_secret"]
    ping = body_of({"zen": "Design for failure.", "hook_id": 1})
    response = await hook(capstan, "github", ping, github_headers(secret, ping, "ping", "p-1"))
    assert response.status_code == 200
    cases = {
        "other-branch": github_push("refs/heads/feature", "c" * 40),
        "tag": github_push("refs/tags/v1.0", "c" * 40),
        "deleted": github_push("refs/heads/main", ZERO, before="c" * 40),
    }
    for delivery, payload in cases.items():
        body = body_of(payload)
        response = await hook(
            capstan, "github", body, github_headers(secret, body, "push", delivery)
        )
        assert response.status_code == 202 and "ignored" in response.json(), response.text
    issue = body_of({"action": "opened"})
    response = await hook(capstan, "github", issue, github_headers(secret, issue, "issues", "i-1"))
    assert response.status_code == 202 and "ignored" in response.json()
    assert (await capstan.http.get("/api/v1/projects/web/deployments")).json()["deployments"] == []
    deliveries = (await capstan.http.get("/api/v1/projects/web/deliveries")).json()["deliveries"]
    assert [d["outcome"] for d in deliveries].count("ignored") == 4
    assert {d["delivery"] for d in deliveries} == {"p-1", "other-branch", "tag", "deleted", "i-1"}
    assert all(d["size"] > 0 and d["received_at"] for d in deliveries)


async def test_deploy_tags_and_paths_filters(capstan: Capstan, repo: Repo) -> None:
    secret = (await capstan.create_project(repo_url=repo.url, deploy_tags="v*", paths=["src/*"]))[
        "webhook_secret"
    ]
    tagged = repo.commit({"src/app.py": "print(1)\n"})
    git(repo.path, "tag", "v2.0")
    body = body_of(github_push("refs/tags/v2.0", tagged))
    response = await hook(capstan, "github", body, github_headers(secret, body, delivery="t"))
    dep = await capstan.wait_for(response.json()["deployment"], "COMPLETED")
    assert dep["ref"] == "v2.0" and dep["commit"] == tagged
    docs = body_of(github_push("refs/heads/main", tagged, files=["docs/readme.md"]))
    response = await hook(capstan, "github", docs, github_headers(secret, docs, delivery="d"))
    assert response.json() == {"ignored": "no changed file matches paths"}
    code = body_of(github_push("refs/heads/main", tagged, files=["docs/x", "src/lib/a.py"]))
    response = await hook(capstan, "github", code, github_headers(secret, code, delivery="c"))
    assert "deployment" in response.json()


async def test_redelivery_is_a_duplicate_and_starts_nothing_more(capstan: Capstan) -> None:
    secret = (await capstan.create_project())["webhook_secret"]
    body = body_of(github_push("refs/heads/main", "d" * 40))
    first = await hook(capstan, "github", body, github_headers(secret, body, delivery="same"))
    again = await hook(capstan, "github", body, github_headers(secret, body, delivery="same"))
    assert first.status_code == 202 and again.status_code == 200
    assert again.json() == {"duplicate": True, "deployment": first.json()["deployment"]}
    gl = body_of(gitlab_push("refs/heads/main", "d" * 40))
    for _ in range(2):
        await hook(capstan, "gitlab", gl, gitlab_headers(secret, delivery="same"))
    deployments = (await capstan.http.get("/api/v1/projects/web/deployments")).json()
    assert len(deployments["deployments"]) == 2


async def test_a_failed_delivery_is_processed_when_redelivered(settings: Settings) -> None:
    async with running_capstan(dataclasses.replace(settings, max_pending=1)) as capstan:
        created = await capstan.create_project(stages=[{"name": "wait", "approval": True}])
        secret = created["webhook_secret"]
        running = await capstan.trigger()
        await capstan.awaiting_approval(running["id"])
        waiting = await capstan.trigger()
        body = body_of(github_push("refs/heads/main", "e" * 40))
        headers = github_headers(secret, body, delivery="retry-me")
        failed = await hook(capstan, "github", body, headers)
        assert failed.status_code == 503 and "Retry-After" in failed.headers
        deliveries = (await capstan.http.get("/api/v1/projects/web/deliveries")).json()
        assert deliveries["deliveries"][0]["outcome"] == "failed"
        await capstan.http.post(f"/api/v1/deployments/{waiting['id']}/cancel")
        processed = await hook(capstan, "github", body, headers)
        assert processed.status_code == 202 and "deployment" in processed.json()
        again = await hook(capstan, "github", body, headers)
        assert again.status_code == 200 and again.json()["duplicate"] is True
        deliveries = (await capstan.http.get("/api/v1/projects/web/deliveries")).json()
        assert [d["outcome"] for d in deliveries["deliveries"]] == ["deployed"]
        for dep in (running, processed.json()):
            await capstan.http.post(
                f"/api/v1/deployments/{dep.get('id', dep.get('deployment'))}/cancel"
            )


async def test_replay_starts_a_new_deployment_of_the_same_push(capstan: Capstan) -> None:
    secret = (await capstan.create_project())["webhook_secret"]
    body = body_of(github_push("refs/heads/main", "f" * 40))
    first = await hook(capstan, "github", body, github_headers(secret, body, delivery="r"))
    await capstan.wait_for(first.json()["deployment"], "COMPLETED")
    delivery = (await capstan.http.get("/api/v1/projects/web/deliveries")).json()["deliveries"][0]
    replayed = await capstan.http.post(f"/api/v1/projects/web/deliveries/{delivery['id']}/replay")
    assert replayed.status_code == 202
    dep = replayed.json()
    assert dep["commit"] == "f" * 40 and dep["trigger"]["replay"] is True
    assert dep["id"] != first.json()["deployment"]
    missing = await capstan.http.post("/api/v1/projects/web/deliveries/nope/replay")
    assert missing.status_code == 404


async def test_bodies_over_25_mib_are_refused(capstan: Capstan) -> None:
    secret = (await capstan.create_project())["webhook_secret"]
    big = b"x" * (26 * 1024 * 1024)
    response = await hook(capstan, "github", big, github_headers(secret, big))
    assert response.status_code == 413

    async def chunks() -> Any:
        for _ in range(26):
            yield b"y" * (1024 * 1024)

    streamed = await capstan.http.post(
        "/hooks/github/web", content=chunks(), headers={"X-GitHub-Event": "push"}
    )
    assert streamed.status_code == 413
    await nothing_stored(capstan)


async def test_unknown_project_is_404(capstan: Capstan) -> None:
    response = await capstan.http.post("/hooks/github/nope", content=b"{}")
    assert response.status_code == 404


async def test_a_project_without_a_usable_secret_rejects_every_delivery(capstan: Capstan) -> None:
    from app.models import Project

    secret = (await capstan.create_project())["webhook_secret"]
    await Project.filter(name="web").update(webhook_secret="")
    body = body_of(github_push("refs/heads/main", "a" * 40))
    response = await hook(capstan, "github", body, github_headers(secret, body))
    assert response.status_code == 401
    await nothing_stored(capstan)


async def test_deliveries_during_a_redis_outage_deploy_once_it_is_back(
    settings: Settings, tmp_path: Path
) -> None:
    outage = RedisServer(tmp_path)
    outage.start()
    try:
        async with running_capstan(dataclasses.replace(settings, redis_url=outage.url)) as capstan:
            secret = (await capstan.create_project())["webhook_secret"]
            outage.stop()
            body = body_of(github_push("refs/heads/main", "9" * 40))
            response = await hook(capstan, "github", body, github_headers(secret, body))
            assert response.status_code == 202
            outage.start()
            dep = await capstan.wait_for(response.json()["deployment"], "COMPLETED", timeout=60)
            assert dep["commit"] == "9" * 40
    finally:
        outage.stop()
