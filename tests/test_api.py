"""The HTTP contract: projects, validation errors, operations endpoints, OpenAPI."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Capstan, database_dump
from starlette.routing import Route

from app.web.routes import ROUTES


async def test_create_project_returns_it_with_webhook_secret_once(capstan: Capstan) -> None:
    created = await capstan.create_project(
        "web", branch="prod", concurrency="reject", keep_releases=3, on_rollback="true"
    )
    assert created["webhook_url"] == "/hooks/github/web"
    assert len(created["webhook_secret"]) >= 32
    for key in ("id", "created_at", "updated_at"):
        assert created[key]
    shown = (await capstan.http.get("/api/v1/projects/web")).json()
    assert "webhook_secret" not in shown
    assert shown["branch"] == "prod" and shown["concurrency"] == "reject"
    assert shown["stages"] == [
        {"name": "build", "run": "echo built", "timeout": 3600, "retries": 0}
    ]
    listed = (await capstan.http.get("/api/v1/projects")).json()
    assert [p["name"] for p in listed["projects"]] == ["web"]


async def test_webhook_secret_is_not_stored_in_plaintext(capstan: Capstan) -> None:
    created = await capstan.create_project()
    rotated = await capstan.http.post("/api/v1/projects/web/webhook-secret")
    assert rotated.status_code == 200
    new_secret = rotated.json()["webhook_secret"]
    assert new_secret != created["webhook_secret"]
    dump = await database_dump(capstan.settings.database_url)
    assert created["webhook_secret"] not in dump and new_secret not in dump
    assert "v1:" in dump


def project(*stages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "web", "stages": list(stages) or [{"name": "a", "run": "x"}], **fields}


def stage(**fields: Any) -> dict[str, Any]:
    return {"name": "a", "run": "x", **fields}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (project(name="Web"), "name"),
        (project(name="-web"), "name"),
        ({"name": "web"}, "stages"),
        (project(stages=[]), "stages"),
        (project({"name": "a"}), "stages[0]"),
        (project(stage(name="A")), "stages[0].name"),
        (project(stage(), stage(run="y")), "stages[1].name"),
        (project(stage(timeout=0)), "stages[0].timeout"),
        (project(stage(retries=-1)), "stages[0].retries"),
        (project(stage(retries=True)), "stages[0].retries"),
        (project(stage(extra=1)), "stages[0].extra"),
        (project(concurrency="yolo"), "concurrency"),
        (project(keep_releases=0), "keep_releases"),
        (project(branch="a b"), "branch"),
        (project(repo_url="--upload-pack=x"), "repo_url"),
        (project(colour="red"), "colour"),
    ],
)
async def test_invalid_project_is_a_422_naming_the_field(
    capstan: Capstan, body: dict[str, Any], field: str
) -> None:
    response = await capstan.http.post("/api/v1/projects", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["field"] == field and error["message"]
    assert (await capstan.http.get("/api/v1/projects")).json()["projects"] == []


async def test_malformed_json_is_a_400_and_changes_nothing(capstan: Capstan) -> None:
    response = await capstan.http.post(
        "/api/v1/projects", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"
    response = await capstan.http.post("/api/v1/projects", json=["a list"])
    assert response.status_code == 422
    big = await capstan.http.post("/api/v1/projects", content=b" " * (1024 * 1024 + 1))
    assert big.status_code == 413


async def test_duplicate_project_is_a_conflict(capstan: Capstan) -> None:
    await capstan.create_project()
    response = await capstan.http.post(
        "/api/v1/projects", json={"name": "web", "stages": [{"name": "a", "run": "x"}]}
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "project_exists"


async def test_patch_changes_fields_but_not_the_name(capstan: Capstan) -> None:
    await capstan.create_project()
    response = await capstan.http.patch("/api/v1/projects/web", json={"branch": "release"})
    assert response.status_code == 200 and response.json()["branch"] == "release"
    rename = await capstan.http.patch("/api/v1/projects/web", json={"name": "other"})
    assert rename.status_code == 422 and rename.json()["error"]["field"] == "name"


async def test_delete_is_refused_while_a_deployment_runs(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "build", "run": "sleep 30"}])
    dep = await capstan.trigger()
    await capstan.wait_for(dep["id"], "IN_PROGRESS")
    response = await capstan.http.delete("/api/v1/projects/web")
    assert response.status_code == 409 and response.json()["error"]["code"] == "deployment_active"
    await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")

    async def deleted() -> bool:
        return (await capstan.http.delete("/api/v1/projects/web")).status_code == 204

    from conftest import eventually

    await eventually(deleted)
    assert (await capstan.http.get("/api/v1/projects/web")).status_code == 404
    assert (await capstan.http.get(f"/api/v1/deployments/{dep['id']}")).status_code == 404


async def test_unknown_things_are_404_json(capstan: Capstan) -> None:
    for path in ("/api/v1/projects/nope", "/api/v1/deployments/nope", "/nowhere"):
        response = await capstan.http.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"].endswith("not_found")
    response = await capstan.http.post("/api/v1/projects/nope/deployments", json={})
    assert response.status_code == 404
    response = await capstan.http.put("/api/v1/projects")
    assert response.status_code == 405


async def test_trigger_rejects_unknown_fields(capstan: Capstan) -> None:
    await capstan.create_project()
    response = await capstan.http.post("/api/v1/projects/web/deployments", json={"reff": "x"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "reff"


async def test_backlog_beyond_max_pending_is_throttled(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "build", "run": "sleep 30"}])
    first = await capstan.trigger()
    await capstan.wait_for(first["id"], "IN_PROGRESS")
    limit = capstan.settings.max_pending
    assert limit == 100
    waiting = [await capstan.trigger() for _ in range(limit)]
    response = await capstan.http.post("/api/v1/projects/web/deployments", json={})
    assert response.status_code == 429 and response.json()["error"]["code"] == "backlog_full"
    assert "Retry-After" in response.headers
    for dep in [first, *waiting]:
        await capstan.http.post(f"/api/v1/deployments/{dep['id']}/cancel")


async def test_health_readiness_and_queue(capstan: Capstan) -> None:
    assert (await capstan.http.get("/healthz")).status_code == 200
    ready = await capstan.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "worker": "ok"}
    queue = (await capstan.http.get("/api/v1/queue")).json()
    assert set(queue) == {"pending", "active", "scheduled", "workers"}


async def test_metrics_expose_deployments_stages_queue_and_latency(capstan: Capstan) -> None:
    await capstan.create_project()
    await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    response = await capstan.http.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'capstan_deployments{status="COMPLETED"} 1.0' in text
    assert 'capstan_stage_duration_seconds_count{status="succeeded"} 1.0' in text
    assert "capstan_trigger_to_start_seconds_count 1.0" in text
    assert 'capstan_queue_jobs{state="pending"}' in text


async def test_openapi_lists_every_route(capstan: Capstan) -> None:
    doc = (await capstan.http.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    api = [r for r in ROUTES if isinstance(r, Route) and r.include_in_schema]
    assert len(api) > 40  # the pages and their static files are not the API
    for route in api:
        for method in route.methods or ():
            if method != "HEAD":
                operation = doc["paths"][route.path][method.lower()]
                assert operation["summary"] and not operation["summary"].startswith("_")
                if route.path.startswith("/api/v1/projects"):
                    assert operation["security"] and operation["x-capstan-permission"]
