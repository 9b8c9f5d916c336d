"""Project handlers: create, list, show, change, delete, webhook secret."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise.exceptions import IntegrityError

from app.domain import repos
from app.domain.pipeline import validate_project
from app.engine import releases
from app.errors import Conflict, Invalid
from app.models import Deployment, Membership, Project
from app.web.context import caller, json_body, only, record, runtime
from app.web.guard import Forbidden
from app.web.lookup import find_project, visible_projects
from app.web.schemas import project_json

WEBHOOK_SECRET = re.compile(r"^[!-~]{16,256}$")


def _project_json(request: Request, project: Project) -> dict[str, Any]:
    return project_json(project, runtime(request).settings.base_url)


def _may_write_stages(request: Request, changes: dict[str, Any]) -> None:
    """Without a sandbox a stage could read Capstan's own data: then only admins write stages,
    until the operator accepts it with CAPSTAN_SINGLE_TEAM=1."""
    rt = runtime(request)
    if rt.sandbox.isolated or rt.settings.single_team:
        return
    who = caller(request)
    if who is not None and who.role != "admin" and {"stages", "on_rollback"} & changes.keys():
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
    who = caller(request)
    if who is not None and who.role != "admin" and not rt.settings.allow_local_repos:
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
    await record(request, "project.create", project.name, details={"after": shown})
    return JSONResponse({**shown, "webhook_secret": secret}, status_code=201)


async def list_projects(request: Request) -> Response:
    """List the projects the caller may see."""
    projects = await visible_projects(caller(request))
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
        await record(request, "project.update", project.name, details=details)
    return JSONResponse(_project_json(request, project))


async def delete_project(request: Request) -> Response:
    """Delete a project and its history (409 while a deployment runs)."""
    project = await find_project(request)
    running = Deployment.filter(project_id=project.id, active_slot__isnull=False)
    if await running.exists():
        raise Conflict("a deployment is in progress", code="deployment_active")
    await project.delete()
    await record(request, "project.delete", project.name)
    projects = runtime(request).settings.projects_dir
    await asyncio.to_thread(releases.retire_project_dir, projects, project.name, project.id)
    return Response(status_code=204)


async def rotate_webhook_secret(request: Request) -> Response:
    """Replace the project's webhook secret with a random one, or with `secret`.

    `secret` (16 to 256 printable ASCII characters, no spaces) keeps an existing forge hook
    working when the project moves. The new secret is shown this once."""
    project = await find_project(request)
    body = only(await json_body(request, optional=True), "secret")
    chosen = body.get("secret")
    if "secret" in body and not (isinstance(chosen, str) and WEBHOOK_SECRET.fullmatch(chosen)):
        raise Invalid("secret must be 16 to 256 printable ASCII characters without spaces",
                      field="secret")  # fmt: skip
    secret = chosen if isinstance(chosen, str) else secrets.token_urlsafe(32)
    project.webhook_secret = runtime(request).vault.encrypt(secret, f"webhook:{project.id}")
    await project.save(update_fields=["webhook_secret", "updated_at"])
    action = "webhook_secret.set" if "secret" in body else "webhook_secret.rotate"
    await record(request, action, project.name)
    return JSONResponse({"webhook_secret": secret})
