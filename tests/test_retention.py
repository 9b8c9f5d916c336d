"""Log retention: a project keeps the logs of its last N deployments, or of N days; the older
deployments stay in the history without their logs."""

from __future__ import annotations

import datetime as dt

from conftest import Capstan

from app.logs import retention
from app.models import Deployment, LogChunk


async def test_only_the_last_deployments_keep_their_logs(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "build", "run": "seq 1 3000"}])
    patched = await capstan.http.patch("/api/v1/projects/web", json={"keep_logs": 2})
    assert patched.status_code == 200 and patched.json()["keep_logs"] == 2
    deps = []
    for _ in range(4):
        deps.append(await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED"))
        if len(deps) == 1:  # stored, and (the last two) kept
            assert await LogChunk.filter(deployment_id=deps[0]["id"]).count() >= 1
    # The server's reconciler prunes too (every few seconds here): whichever pass comes first.
    await retention.prune()
    for old in deps[:2]:
        assert await LogChunk.filter(deployment_id=old["id"]).count() == 0
        assert (await capstan.deployment(old["id"]))["status"] == "COMPLETED"  # still history
        assert await capstan.log(old["id"]) == ""
    for kept in deps[2:]:
        assert "3000" in await capstan.log(kept["id"])
    assert await retention.prune() == 0  # nothing left to do


async def test_logs_older_than_the_days_kept_go(capstan: Capstan) -> None:
    await capstan.create_project()
    dep = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    assert (await capstan.http.patch("/api/v1/projects/web", json={"keep_log_days": 7})).is_success
    assert await retention.prune() == 0  # ended just now
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    await Deployment.filter(id=dep["id"]).update(finished_at=old)
    await retention.prune()  # or the reconciler's pass, if it came first
    assert await LogChunk.filter(deployment_id=dep["id"]).count() == 0
    assert await capstan.log(dep["id"]) == ""


async def test_retention_is_validated(capstan: Capstan) -> None:
    await capstan.create_project()
    for body in ({"keep_logs": 0}, {"keep_log_days": "7"}, {"keep_logs": True}):
        answer = await capstan.http.patch("/api/v1/projects/web", json=body)
        assert answer.status_code == 422 and answer.json()["error"]["field"] == next(iter(body))
    cleared = await capstan.http.patch("/api/v1/projects/web", json={"keep_logs": None})
    assert cleared.status_code == 200 and cleared.json()["keep_logs"] is None
