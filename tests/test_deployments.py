"""The deployment state machine through the real API: stages, approval, cancel, rollback."""

from __future__ import annotations

import asyncio
import itertools

from conftest import Capstan, Repo, eventually

GATED = [
    {"name": "build", "run": "echo building"},
    {"name": "approve", "approval": True},
    {"name": "release", "run": "echo releasing"},
]


async def test_trigger_starts_first_stage_and_stages_advance_in_order(capstan: Capstan) -> None:
    await capstan.create_project(
        stages=[
            {"name": "one", "run": "echo one"},
            {"name": "two", "run": "sleep 1.5; echo two"},
            {"name": "three", "run": "echo three"},
        ]
    )
    dep = await capstan.trigger()
    assert dep["status"] == "PENDING" and dep["seq"] >= 1 and dep["kind"] == "deploy"
    running = await capstan.wait_for(dep["id"], "IN_PROGRESS", stage="two")
    assert [s["status"] for s in running["stages"]] == ["succeeded", "running", "pending"]
    assert running["stage_index"] == 1 and running["total_stages"] == 3
    done = await capstan.wait_for(dep["id"], "COMPLETED")
    assert [s["status"] for s in done["stages"]] == ["succeeded"] * 3
    assert all(s["exit_code"] == 0 and s["attempt"] == 1 for s in done["stages"])
    assert done["finished_at"] and done["started_at"] and done["error"] is None
    log = await capstan.log(dep["id"])
    assert log.index("==> one (attempt 1)") < log.index("one\n") < log.index("==> two (attempt 1)")
    assert log.index("two\n") < log.index("==> three (attempt 1)")


async def test_first_stage_is_in_progress_right_after_trigger(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "build", "run": "sleep 5"}])
    dep = await capstan.trigger()
    await capstan.wait_for(dep["id"], "IN_PROGRESS", stage="build", timeout=5)

    async def stage_running() -> bool:
        return (await capstan.deployment(dep["id"]))["stages"][0]["status"] == "running"

    await eventually(stage_running, timeout=5)
    await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")


async def test_failing_stage_fails_deployment_and_skips_the_rest(capstan: Capstan) -> None:
    await capstan.create_project(
        stages=[{"name": "build", "run": "echo oops; exit 3"}, {"name": "release", "run": "true"}]
    )
    dep = await capstan.trigger()
    failed = await capstan.wait_for(dep["id"], "FAILED")
    assert failed["stages"][0]["status"] == "failed" and failed["stages"][0]["exit_code"] == 3
    assert failed["stages"][1]["status"] == "skipped"
    assert "build" in failed["error"] and "3" in failed["error"]


async def test_pipefail_fails_a_stage_whose_pipeline_fails(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "build", "run": "false | cat\necho after"}])
    dep = await capstan.trigger()
    failed = await capstan.wait_for(dep["id"], "FAILED")
    assert "after" not in await capstan.log(dep["id"])
    assert failed["stages"][0]["exit_code"] == 1


async def test_retries_run_a_failed_stage_again_with_backoff(capstan: Capstan) -> None:
    script = "n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; [ $n -ge 1 ]"
    await capstan.create_project(stages=[{"name": "flaky", "run": script, "retries": 2}])
    dep = await capstan.trigger()
    done = await capstan.wait_for(dep["id"], "COMPLETED")
    assert done["stages"][0]["attempt"] == 2
    log = await capstan.log(dep["id"])
    assert "==> flaky (attempt 1)" in log and "==> flaky (attempt 2)" in log
    assert "attempt 2 in 1 s" in log


async def test_stage_timeout_fails_the_stage(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "slow", "run": "sleep 30", "timeout": 1}])
    dep = await capstan.trigger()
    failed = await capstan.wait_for(dep["id"], "FAILED")
    assert "timed out after 1 s" in failed["error"]
    assert failed["stages"][0]["exit_code"] is None


async def test_approval_gate_waits_then_continues(capstan: Capstan) -> None:
    await capstan.create_project(stages=GATED)
    dep = await capstan.trigger()
    waiting = await capstan.awaiting_approval(dep["id"])
    assert waiting["current_stage"] == "approve"
    await asyncio.sleep(0.5)
    waiting = await capstan.deployment(dep["id"])
    assert waiting["stages"][1]["status"] == "awaiting_approval"
    assert waiting["stages"][2]["status"] == "pending"
    await capstan.approve(dep["id"])
    done = await capstan.wait_for(dep["id"], "COMPLETED")
    assert [s["status"] for s in done["stages"]] == ["succeeded"] * 3


async def test_approve_when_not_waiting_is_a_conflict(capstan: Capstan) -> None:
    await capstan.create_project()
    dep = await capstan.trigger()
    await capstan.wait_for(dep["id"], "COMPLETED")
    response = await capstan.http.post(f"/api/v1/deployments/{dep['id']}/approve")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_awaiting_approval"


async def test_gate_with_script_opens_then_runs(capstan: Capstan) -> None:
    await capstan.create_project(
        stages=[{"name": "release", "approval": True, "run": "echo after approval"}]
    )
    dep = await capstan.trigger()
    await capstan.approve(dep["id"])
    done = await capstan.wait_for(dep["id"], "COMPLETED")
    assert done["stages"][0]["attempt"] == 1
    assert "after approval" in await capstan.log(dep["id"])


async def test_cancel_pending_deployment(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "build", "run": "sleep 30"}])
    first = await capstan.trigger()
    second = await capstan.trigger()
    await capstan.wait_for(first["id"], "IN_PROGRESS")
    response = await capstan.http.post(f"/api/v1/deployments/{second['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    assert [s["status"] for s in response.json()["stages"]] == ["skipped"]
    await capstan.http.post(f"/api/v1/deployments/{first['id']}/cancel")


async def test_cancel_in_progress_deployment(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "build", "run": "sleep 30"}, GATED[2]])
    dep = await capstan.trigger()
    await capstan.wait_for(dep["id"], "IN_PROGRESS", stage="build")
    response = await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")
    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["status"] == "CANCELLED"
    assert [s["status"] for s in cancelled["stages"]] == ["cancelled", "skipped"]
    again = await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_finished"


async def test_trigger_after_a_cancel_runs(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "build", "run": "sleep ${SLEEP:-0}; echo ok"}])
    await capstan.http.patch(
        "/api/v1/projects/web", json={"stages": [{"name": "build", "run": "sleep 30"}]}
    )
    first = await capstan.trigger()
    await capstan.wait_for(first["id"], "IN_PROGRESS")
    await capstan.http.post(f"/api/v1/deployments/{first['id']}/cancel")
    await capstan.http.patch(
        "/api/v1/projects/web", json={"stages": [{"name": "build", "run": "echo ok"}]}
    )
    second = await capstan.trigger()
    await capstan.wait_for(second["id"], "COMPLETED")


async def test_rollback_in_progress_stops_it_and_keeps_current(
    capstan: Capstan, repo: Repo
) -> None:
    await capstan.create_project(repo_url=repo.url, stages=GATED)
    first = await capstan.trigger()
    await capstan.approve(first["id"])
    await capstan.wait_for(first["id"], "COMPLETED")
    repo.commit({"app.txt": "v2\n"})
    second = await capstan.trigger()
    await capstan.awaiting_approval(second["id"])
    response = await capstan.http.post(f"/api/v1/deployments/{second['id']}/rollback")
    assert response.status_code == 200 and response.json()["status"] == "ROLLED_BACK"
    current = capstan.settings.projects_dir / "web" / "current"
    assert (current / "app.txt").read_text() == "v1\n"
    project = (await capstan.http.get("/api/v1/projects/web")).json()
    assert project["current_deployment"] == first["id"]


async def test_finished_deployments_cannot_be_rolled_back(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "build", "run": "sleep 30"}])
    cancelled = await capstan.trigger()
    await capstan.http.post(f"/api/v1/deployments/{cancelled['id']}/cancel")
    await capstan.http.patch(
        "/api/v1/projects/web", json={"stages": [{"name": "build", "run": "true"}]}
    )
    completed = await capstan.trigger()
    await capstan.wait_for(completed["id"], "COMPLETED")
    for dep in (cancelled, completed):
        response = await capstan.http.post(f"/api/v1/deployments/{dep['id']}/rollback")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "already_finished"


async def test_rollback_of_pending_is_not_in_progress(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "build", "run": "sleep 30"}])
    first = await capstan.trigger()
    second = await capstan.trigger()
    response = await capstan.http.post(f"/api/v1/deployments/{second['id']}/rollback")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_in_progress"
    for dep in (first, second):
        await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")


async def test_second_trigger_is_rejected_while_one_is_active(capstan: Capstan) -> None:
    await capstan.create_project(
        stages=[{"name": "build", "run": "sleep 30"}], concurrency="reject"
    )
    first = await capstan.trigger()
    response = await capstan.http.post("/api/v1/projects/web/deployments", json={})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "deployment_active"
    await capstan.http.post(f"/api/v1/deployments/{first['id']}/cancel")
    await capstan.wait_for(first["id"], "CANCELLED")


async def test_supersede_replaces_the_waiting_deployment(capstan: Capstan) -> None:
    await capstan.create_project(
        stages=[{"name": "build", "run": "sleep 1"}], concurrency="supersede"
    )
    first = await capstan.trigger()
    await capstan.wait_for(first["id"], "IN_PROGRESS")
    second = await capstan.trigger()
    third = await capstan.trigger()
    assert (await capstan.deployment(second["id"]))["status"] == "CANCELLED"
    assert "superseded" in (await capstan.deployment(second["id"]))["error"]
    await capstan.wait_for(third["id"], "COMPLETED")
    assert (await capstan.deployment(first["id"]))["status"] == "COMPLETED"


async def test_queue_runs_waiting_deployments_in_trigger_order(capstan: Capstan) -> None:
    await capstan.create_project(
        stages=[{"name": "build", "run": "echo $CAPSTAN_SEQ >> $CAPSTAN_CACHE_DIR/order"}]
    )
    deps = [await capstan.trigger() for _ in range(4)]
    for dep in deps:
        await capstan.wait_for(dep["id"], "COMPLETED")
    order = (capstan.settings.projects_dir / "web" / "cache" / "order").read_text().split()
    assert order == [str(d["seq"]) for d in deps]
    finished = [await capstan.deployment(d["id"]) for d in deps]
    for earlier, later in itertools.pairwise(finished):
        assert earlier["finished_at"] <= later["started_at"]


async def test_history_is_newest_first_with_limit_and_before(capstan: Capstan) -> None:
    await capstan.create_project()
    deps = [await capstan.trigger() for _ in range(5)]
    seqs = [d["seq"] for d in deps]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    listed = (await capstan.http.get("/api/v1/projects/web/deployments?limit=3")).json()
    assert [d["seq"] for d in listed["deployments"]] == seqs[::-1][:3]
    older = await capstan.http.get(f"/api/v1/projects/web/deployments?before={seqs[2]}")
    assert [d["seq"] for d in older.json()["deployments"]] == [seqs[1], seqs[0]]
    bad = await capstan.http.get("/api/v1/projects/web/deployments?limit=0")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "limit"


async def test_stage_environment_has_capstan_variables_and_no_server_settings(
    capstan: Capstan, repo: Repo
) -> None:
    await capstan.create_project(repo_url=repo.url, stages=[{"name": "env", "run": "env | sort"}])
    dep = await capstan.trigger(version="v1.2.3")
    await capstan.wait_for(dep["id"], "COMPLETED")
    log = await capstan.log(dep["id"])
    done = await capstan.deployment(dep["id"])
    release_dir = capstan.settings.projects_dir / "web" / done["release"]
    expected = {
        "CAPSTAN_PROJECT": "web",
        "CAPSTAN_DEPLOYMENT_ID": dep["id"],
        "CAPSTAN_SEQ": str(dep["seq"]),
        "CAPSTAN_REF": "main",
        "CAPSTAN_COMMIT": done["commit"],
        "CAPSTAN_VERSION": "v1.2.3",
        "CAPSTAN_RELEASE_DIR": str(release_dir),
        "CAPSTAN_CURRENT_DIR": str(capstan.settings.projects_dir / "web" / "current"),
    }
    for key, value in expected.items():
        assert f"{key}={value}\n" in log
    for secret in ("CAPSTAN_MASTER_KEY", "CAPSTAN_DATABASE_URL", "CAPSTAN_REDIS_URL"):
        assert secret not in log
    assert capstan.settings.redis_url not in log and "ab" * 32 not in log
