"""JSON API handlers for projects and deployments (`/api/v1/...`)."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise.exceptions import IntegrityError

from app import audit
from app.domain import repos, text
from app.domain.pipeline import validate_project
from app.domain.status import Status, TriggerType
from app.engine import actions, releases
from app.errors import BadRequest, Conflict, Invalid
from app.models import Deployment, Membership, Project
from app.runtime import Runtime
from app.web.guard import Forbidden, actor_of
from app.web.lookup import find_deployment, find_project
from app.web.schemas import deployment_json, project_json

MAX_DEPTH = 32
WEBHOOK_SECRET = re.compile(r"^[!-~]{16,256}$")
INTEGER = re.compile(r"-?[0-9]{1,19}")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.state.runtime
    return rt


async def json_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object: 400 if malformed or nested over 32 deep, 413 past 1 MiB
    (`app.web.limits` stops reading there), 422 if not an object or if a string in it (a key
    or a value) holds a NUL or an unpaired surrogate, which no database can store."""
    body = await request.body()
    if not body.strip():
        if optional:
            return {}
        raise BadRequest("a JSON body is required")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # ValueError includes UnicodeDecodeError
        raise BadRequest("the body is not valid JSON") from None
    if text.depth(data) > MAX_DEPTH:
        raise BadRequest(f"the body nests deeper than {MAX_DEPTH} levels")
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object", field="body")
    bad = text.unstorable(data)
    if bad is not None:
        raise Invalid(f"{bad} holds a NUL character or an unpaired surrogate", field=bad)
    return data


def actor(request: Request) -> str:
    """Who is acting: the signed-in user once there are users, else `anonymous`."""
    return str(getattr(request.state, "username", None) or "anonymous")


def trigger_of(request: Request) -> dict[str, Any]:
    agent = request.headers.get("user-agent", "")
    kind = TriggerType.CLI if agent.startswith("capstan-cli/") else TriggerType.API
    return {"type": kind.value, "by": actor(request)}


# Projects


def _project_json(request: Request, project: Project) -> dict[str, Any]:
    return project_json(project, runtime(request).settings.base_url)


def _may_write_stages(request: Request, changes: dict[str, Any]) -> None:
    """Without a sandbox a stage could read Capstan's own data: then only admins write stages,
    until the operator accepts it with CAPSTAN_SINGLE_TEAM=1."""
    rt = runtime(request)
    if rt.sandbox.isolated or rt.settings.single_team:
        return
    caller = getattr(request.state, "caller", None)
    if caller is not None and caller.role != "admin" and {"stages", "on_rollback"} & changes.keys():
        raise Forbidden(
            "stages run without a sandbox on this server, so only admins may write them",
            code="no_sandbox",
        )


def _may_use_repo(request: Request, changes: dict[str, Any]) -> None:
    """A local repository is read with Capstan's own rights: never one inside its data dir
    (another project's mirror, say), and others only by admins unless
    CAPSTAN_ALLOW_LOCAL_REPOS=1."""
    url = changes.get("repo_url")
    if not url or repos.local_path(url) is None:
        return
    rt = runtime(request)
    if repos.reads_from(url, rt.settings.data_dir):
        raise Invalid("repo_url may not point into Capstan's data directory", field="repo_url")
    caller = getattr(request.state, "caller", None)
    if caller is not None and caller.role != "admin" and not rt.settings.allow_local_repos:
        raise Forbidden(
            "only admins may use a local repository (CAPSTAN_ALLOW_LOCAL_REPOS=1 lets anyone)",
            code="local_repo",
        )


async def create_project(request: Request) -> Response:
    """Create a project; the response shows its webhook secret this once."""
    data = validate_project(await json_body(request), create=True)
    _may_write_stages(request, data)
    _may_use_repo(request, data)
    project_id = uuid.uuid4()
    secret = secrets.token_urlsafe(32)
    sealed = runtime(request).vault.encrypt(secret, f"webhook:{project_id}")
    try:
        project = await Project.create(id=project_id, webhook_secret=sealed, **data)
    except IntegrityError:
        raise Conflict(f"project {data['name']!r} exists", code="project_exists") from None
    identity = getattr(request.state, "identity", None)
    if identity is not None:
        await Membership.create(project_id=project.id, user_id=identity.user.id, role="owner")
    shown = _project_json(request, project)
    await _audit(request, "project.create", project.name, details={"after": shown})
    return JSONResponse({**shown, "webhook_secret": secret}, status_code=201)


async def _audit(request: Request, action: str, project: str | None, **fields: Any) -> None:
    await audit.record(actor_of(request), action, project=project, **fields)


async def list_projects(request: Request) -> Response:
    """List the projects the caller may see."""
    query = Project.all()
    caller = getattr(request.state, "caller", None)
    if caller is not None and caller.role not in ("admin", "manager", "viewer"):
        query = query.filter(memberships__user__username=caller.username)
    projects = await query.order_by("name")
    return JSONResponse({"projects": [_project_json(request, p) for p in projects]})


async def get_project(request: Request) -> Response:
    """Show a project."""
    return JSONResponse(_project_json(request, await find_project(request)))


async def update_project(request: Request) -> Response:
    """Change any field of a project but its name."""
    project = await find_project(request)
    changes = validate_project(await json_body(request), create=False)
    if changes.get("repo_url") and changes["repo_url"] == repos.redact(project.repo_url):
        del changes["repo_url"]  # the URL as shown, sent back: keep the credentials it hides
    _may_write_stages(request, changes)
    _may_use_repo(request, changes)
    if changes:
        before = _project_json(request, project)
        project.update_from_dict(changes)
        await project.save()
        details = {"before": before, "after": _project_json(request, project)}
        await _audit(request, "project.update", project.name, details=details)
    return JSONResponse(_project_json(request, project))


async def delete_project(request: Request) -> Response:
    """Delete a project and its history (409 while a deployment runs)."""
    project = await find_project(request)
    running = Deployment.filter(project_id=project.id, active_slot__isnull=False)
    if await running.exists():
        raise Conflict("a deployment is in progress", code="deployment_active")
    await project.delete()
    await _audit(request, "project.delete", project.name)
    projects = runtime(request).settings.projects_dir
    await asyncio.to_thread(releases.retire_project_dir, projects, project.name, project.id)
    return Response(status_code=204)


async def rotate_webhook_secret(request: Request) -> Response:
    """Replace the project's webhook secret with a random one, or with `secret`.

    `secret` (16 to 256 printable ASCII characters, no spaces) keeps an existing forge hook
    working when the project moves. The new secret is shown this once."""
    project = await find_project(request)
    body = await json_body(request, optional=True)
    unknown = sorted(set(body) - {"secret"})
    if unknown:
        raise Invalid(f"unknown field {unknown[0]!r}", field=unknown[0])
    chosen = body.get("secret")
    if "secret" in body and not (isinstance(chosen, str) and WEBHOOK_SECRET.fullmatch(chosen)):
        raise Invalid("secret must be 16 to 256 printable ASCII characters without spaces",
                      field="secret")  # fmt: skip
    secret = chosen if isinstance(chosen, str) else secrets.token_urlsafe(32)
    project.webhook_secret = runtime(request).vault.encrypt(secret, f"webhook:{project.id}")
    await project.save(update_fields=["webhook_secret", "updated_at"])
    action = "webhook_secret.set" if "secret" in body else "webhook_secret.rotate"
    await _audit(request, action, project.name)
    return JSONResponse({"webhook_secret": secret})


# Deployments


async def trigger_deployment(request: Request) -> Response:
    """Trigger a deployment of `ref` (default: the project's branch)."""
    project = await find_project(request)
    body = await json_body(request, optional=True)
    unknown = sorted(set(body) - {"ref", "version"})
    if unknown:
        raise Invalid(f"unknown field {unknown[0]!r}", field=unknown[0])
    dep = await actions.deploy(
        runtime(request).engine,
        project,
        trigger_of(request),
        ref=body.get("ref"),
        version=body.get("version"),
    )
    await _audit(request, "deployment.trigger", project.name, target=str(dep.id),
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
    await _audit(request, "deployment.approve", project.name, target=str(dep.id))
    return JSONResponse(deployment_json(dep, project.name))


async def cancel_deployment(request: Request) -> Response:
    """Cancel a PENDING or IN_PROGRESS deployment, stopping its processes."""
    dep, project = await find_deployment(request)
    dep = await actions.stop(runtime(request).engine, dep, Status.CANCELLED, actor(request))
    await _audit(request, "deployment.cancel", project.name, target=str(dep.id))
    return JSONResponse(deployment_json(dep, project.name))


async def rollback_deployment(request: Request) -> Response:
    """Stop an IN_PROGRESS deployment and leave `current` where it was."""
    dep, project = await find_deployment(request)
    dep = await actions.stop(runtime(request).engine, dep, Status.ROLLED_BACK, actor(request))
    await _audit(request, "deployment.rollback", project.name, target=str(dep.id))
    return JSONResponse(deployment_json(dep, project.name))


async def rollback_project(request: Request) -> Response:
    """Re-activate an earlier release (`to`, default: the one before current)."""
    project = await find_project(request)
    body = await json_body(request, optional=True)
    unknown = sorted(set(body) - {"to"})
    if unknown:
        raise Invalid(f"unknown field {unknown[0]!r}", field=unknown[0])
    trigger = {"type": TriggerType.ROLLBACK.value, "by": actor(request)}
    dep = await actions.rollback_project(runtime(request).engine, project, trigger, body.get("to"))
    await _audit(request, "project.rollback", project.name, target=str(dep.id),
                 details={"to": str(dep.rollback_to)})  # fmt: skip
    return JSONResponse(deployment_json(dep, project.name), status_code=202)


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not INTEGER.fullmatch(raw):  # int() also takes " 1", "1_0", Arabic digits
        raise Invalid(f"{name} must be an integer", field=name)
    value = int(raw)
    if not low <= value <= high:
        raise Invalid(f"{name} must be from {low} to {high}", field=name)
    return value
