"""Releases: exact commits from a mirror, the atomic `current` symlink, pruning, rollback."""

from __future__ import annotations

import os

from conftest import Capstan, Repo


async def test_release_is_the_exact_commit_the_ref_had_at_trigger_time(
    capstan: Capstan, repo: Repo
) -> None:
    await capstan.create_project(
        repo_url=repo.url, stages=[{"name": "wait", "approval": True}, {"name": "x", "run": "true"}]
    )
    first_commit = repo.commit({"app.txt": "v2\n"})
    dep = await capstan.trigger()
    assert dep["commit"] == first_commit
    repo.commit({"app.txt": "v3\n"})
    await capstan.approve(dep["id"])
    done = await capstan.wait_for(dep["id"], "COMPLETED")
    assert done["release"] == f"releases/{dep['seq']}-{first_commit[:7]}"
    release = capstan.settings.projects_dir / "web" / done["release"]
    assert (release / "app.txt").read_text() == "v2\n"
    assert not (release / ".git").exists()


async def test_ref_can_be_a_tag_or_another_branch(capstan: Capstan, repo: Repo) -> None:
    await capstan.create_project(repo_url=repo.url, stages=[{"name": "show", "run": "cat app.txt"}])
    feature = repo.commit({"app.txt": "feature\n"}, branch="feature")
    from conftest import git

    git(repo.path, "tag", "-a", "v9", "-m", "release v9")
    dep = await capstan.trigger(ref="v9")
    assert dep["commit"] == feature and dep["ref"] == "v9"
    await capstan.wait_for(dep["id"], "COMPLETED")
    assert "feature" in await capstan.log(dep["id"])


async def test_unknown_ref_is_refused_and_stores_nothing(capstan: Capstan, repo: Repo) -> None:
    await capstan.create_project(repo_url=repo.url)
    response = await capstan.http.post("/api/v1/projects/web/deployments", json={"ref": "nope"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "ref"
    bad = await capstan.http.post("/api/v1/projects/web/deployments", json={"ref": "-x"})
    assert bad.status_code == 422
    listed = await capstan.http.get("/api/v1/projects/web/deployments")
    assert listed.json()["deployments"] == []


async def test_completed_deployment_repoints_current_atomically(
    capstan: Capstan, repo: Repo
) -> None:
    await capstan.create_project(repo_url=repo.url)
    first = await capstan.trigger()
    first = await capstan.wait_for(first["id"], "COMPLETED")
    current = capstan.settings.projects_dir / "web" / "current"
    assert os.readlink(current) == first["release"]
    repo.commit({"app.txt": "v2\n"})
    second = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    assert os.readlink(current) == second["release"]
    assert (current / "app.txt").read_text() == "v2\n"
    project = (await capstan.http.get("/api/v1/projects/web")).json()
    assert project["current_deployment"] == second["id"]


async def test_failed_deployment_leaves_current_alone(capstan: Capstan, repo: Repo) -> None:
    await capstan.create_project(repo_url=repo.url)
    first = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    await capstan.http.patch(
        "/api/v1/projects/web", json={"stages": [{"name": "build", "run": "exit 1"}]}
    )
    repo.commit({"app.txt": "v2\n"})
    await capstan.wait_for((await capstan.trigger())["id"], "FAILED")
    current = capstan.settings.projects_dir / "web" / "current"
    assert os.readlink(current) == first["release"]


async def test_old_releases_are_pruned_but_never_current(capstan: Capstan, repo: Repo) -> None:
    await capstan.create_project(repo_url=repo.url, keep_releases=2)
    releases = []
    for n in range(4):
        repo.commit({"app.txt": f"v{n}\n"})
        done = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
        releases.append(done["release"])
    kept = sorted(p.name for p in (capstan.settings.projects_dir / "web" / "releases").iterdir())
    assert kept == sorted(r.split("/")[1] for r in releases[-2:])


async def test_project_rollback_reactivates_previous_release_without_rebuilding(
    capstan: Capstan, repo: Repo
) -> None:
    await capstan.create_project(
        repo_url=repo.url,
        stages=[{"name": "build", "run": "echo built >> $CAPSTAN_CACHE_DIR/builds"}],
        on_rollback="echo rolled back to $CAPSTAN_COMMIT; cat app.txt",
    )
    first = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    repo.commit({"app.txt": "v2\n"})
    second = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    response = await capstan.http.post("/api/v1/projects/web/rollback", json={})
    assert response.status_code == 202
    rollback = response.json()
    assert rollback["kind"] == "rollback" and rollback["trigger"]["type"] == "rollback"
    done = await capstan.wait_for(rollback["id"], "COMPLETED")
    assert done["release"] == first["release"] and done["commit"] == first["commit"]
    current = capstan.settings.projects_dir / "web" / "current"
    assert os.readlink(current) == first["release"]
    builds = (capstan.settings.projects_dir / "web" / "cache" / "builds").read_text().split()
    assert len(builds) == 2
    log = await capstan.log(rollback["id"])
    assert f"rolled back to {first['commit']}" in log and "v1" in log
    again = await capstan.http.post("/api/v1/projects/web/rollback", json={})
    assert again.status_code == 409 and again.json()["error"]["code"] == "no_rollback_target"
    forward = await capstan.http.post("/api/v1/projects/web/rollback", json={"to": second["id"]})
    done = await capstan.wait_for(forward.json()["id"], "COMPLETED")
    assert os.readlink(current) == second["release"]


async def test_project_rollback_target_must_be_a_completed_deployment(
    capstan: Capstan, repo: Repo
) -> None:
    await capstan.create_project(repo_url=repo.url)
    response = await capstan.http.post("/api/v1/projects/web/rollback", json={})
    assert response.status_code == 409
    await capstan.http.patch(
        "/api/v1/projects/web", json={"stages": [{"name": "build", "run": "exit 1"}]}
    )
    failed = await capstan.wait_for((await capstan.trigger())["id"], "FAILED")
    bad = await capstan.http.post("/api/v1/projects/web/rollback", json={"to": failed["id"]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "to"


async def test_project_without_repo_gets_an_empty_release(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "ls", "run": "ls -A | wc -l"}])
    done = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    assert done["release"] == f"releases/{done['seq']}" and done["commit"] is None
    assert "0\n" in await capstan.log(done["id"])
