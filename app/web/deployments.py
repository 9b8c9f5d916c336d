"""Deployment handlers: trigger, history, show, approve, cancel, roll back."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.domain.status import Status, TriggerType
from app.engine import actions
from app.models import Deployment
from app.web.context import actor, int_param, json_body, only, record, runtime, trigger_of
from app.web.guard import Forbidden
from app.web.lookup import find_deployment, find_project
from app.web.schemas import deployment_json

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


async def trigger_deployment(request: Request) -> Response:
    """Trigger a deployment of `ref` (default: the project's branch)."""
    project = await find_project(request)
    body = only(await json_body(request, optional=True), "ref", "version")
    dep = await actions.deploy(
        runtime(request).engine,
        project,
        trigger_of(request),
        ref=body.get("ref"),
        version=body.get("version"),
    )
    await record(request, "deployment.trigger", project.name, target=str(dep.id),
                 details={"ref": dep.ref, "commit": dep.commit})  # fmt: skip
    return JSONResponse(deployment_json(dep, project.name), status_code=202)


async def list_deployments(request: Request) -> Response:
    """A project's deployments, newest first (`limit`, `before` a seq)."""
    project = await find_project(request)
    limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    query = Deployment.filter(project_id=project.id)
    if "before" in request.query_params:
        query = query.filter(seq__lt=int_param(request, "before", 0, 1, 2**62))
    deps = await query.order_by("-seq").limit(limit)
    return JSONResponse({"deployments": [deployment_json(d, project.name) for d in deps]})


async def get_deployment(request: Request) -> Response:
    """Show a deployment and its stages."""
    dep, project = await find_deployment(request)
    return JSONResponse(deployment_json(dep, project.name))


async def approve_deployment(request: Request) -> Response:
    """Open the approval gate the deployment waits at."""
    dep, project = await find_deployment(request)
    if project.no_self_approval and dep.trigger.get("by") == actor(request):
        raise Forbidden("this project does not let you approve your own deployment",
                        code="self_approval")  # fmt: skip
    dep = await actions.approve(runtime(request).engine, dep, actor(request))
    await record(request, "deployment.approve", project.name, target=str(dep.id))
    return JSONResponse(deployment_json(dep, project.name))


async def cancel_deployment(request: Request) -> Response:
    """Cancel a PENDING or IN_PROGRESS deployment, stopping its processes."""
    dep, project = await find_deployment(request)
    dep = await actions.stop(runtime(request).engine, dep, Status.CANCELLED, actor(request))
    await record(request, "deployment.cancel", project.name, target=str(dep.id))
    return JSONResponse(deployment_json(dep, project.name))


async def rollback_deployment(request: Request) -> Response:
    """Stop an IN_PROGRESS deployment and leave `current` where it was."""
    dep, project = await find_deployment(request)
    dep = await actions.stop(runtime(request).engine, dep, Status.ROLLED_BACK, actor(request))
    await record(request, "deployment.rollback", project.name, target=str(dep.id))
    return JSONResponse(deployment_json(dep, project.name))


async def rollback_project(request: Request) -> Response:
    """Re-activate an earlier release (`to`, default: the one before current)."""
    project = await find_project(request)
    body = only(await json_body(request, optional=True), "to")
    trigger = {"type": TriggerType.ROLLBACK, "by": actor(request)}
    dep = await actions.rollback_project(runtime(request).engine, project, trigger, body.get("to"))
    await record(request, "project.rollback", project.name, target=str(dep.id),
                 details={"to": str(dep.rollback_to)})  # fmt: skip
    return JSONResponse(deployment_json(dep, project.name), status_code=202)
