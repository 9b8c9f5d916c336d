"""The project or deployment a request's path names, looked up once per request.

The guard needs it to decide access and the handler needs it to act; both ask here, and the
second ask is answered from `request.state`. The rows are read by `app.db.rows`, whose SQL is
built once: on every authenticated request, building it was most of the work.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from tortoise.queryset import QuerySet

from app.db import rows
from app.domain.access import PRIVILEGED, Caller, Role
from app.domain.pipeline import PROJECT_NAME
from app.errors import NotFound
from app.models import Deployment, Project


def visible_projects(caller: Caller | None) -> QuerySet[Project]:
    """The projects `caller` may see, by name."""
    query = Project.all()
    if caller is not None and caller.role not in PRIVILEGED | {Role.VIEWER}:
        query = query.filter(memberships__user__username=caller.username)
    return query.order_by("name")


async def find_project(request: Request) -> Project:
    cached: Project | None = getattr(request.state, "project", None)
    if cached is not None:
        return cached
    name = request.path_params["project"]
    # A name no project can have is not looked up: a NUL in it would be a database error.
    project = await rows.one(Project, "name", name) if PROJECT_NAME.fullmatch(name) else None
    if project is None:
        raise NotFound(f"no project {name!r}", code="project_not_found")
    request.state.project = project
    return project


async def find_deployment(request: Request) -> tuple[Deployment, Project]:
    cached: tuple[Deployment, Project] | None = getattr(request.state, "deployment", None)
    if cached is not None:
        return cached
    try:
        dep_id = uuid.UUID(request.path_params["deployment"])
    except ValueError:
        raise NotFound("no such deployment", code="deployment_not_found") from None
    found = await rows.one_with(Deployment, "id", dep_id, Project, "project_id")
    if found is None:
        raise NotFound("no such deployment", code="deployment_not_found")
    request.state.deployment = found
    return found


async def project_of(request: Request) -> Project | None:
    """The project the path names, directly or through a deployment; None when none."""
    if "project" in request.path_params:
        return await find_project(request)
    if "deployment" in request.path_params:
        return (await find_deployment(request))[1]
    return None
