"""Sign-in, the dashboard, and its live rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.domain.access import Permission
from app.domain.status import ACTIVE, Status
from app.errors import AppError
from app.models import Deployment, Project
from app.web.context import caller, runtime
from app.web.forms import local_path
from app.web.guard import check, identify
from app.web.lookup import visible_projects
from app.web.pages import Allowed, page, render, templates

REFRESH_SECONDS = 2.0
RECHECK_SECONDS = 30.0
LOGIN_ERRORS = {
    "unauthenticated": "Wrong username or password.",
    "throttled": "Too many failed sign-ins; wait a few minutes and try again.",
    "cross_site": "Sign-in from another site is refused.",
    "invalid": "Enter a username and a password.",
}


async def login_page(request: Request) -> Response:
    """The sign-in form; signed in already, the dashboard."""
    target = local_path(request.query_params.get("next"), "/")
    if await identify(request) is not None:
        return RedirectResponse(target, status_code=303)
    error = LOGIN_ERRORS.get(request.query_params.get("error", ""))
    password_file = runtime(request).settings.data_dir / "initial-admin-password"
    context = {"next": target, "error": error, "first_run": password_file.exists(),
               "password_file": password_file}  # fmt: skip
    return await render(request, "login.html", context, status=401 if error else 200)


async def project_rows(request: Request) -> list[dict[str, Any]]:
    """Each project the caller may see, with its current release, last deployment, what runs
    and what waits: three small indexed queries per project, whatever the history's size."""
    rows = []
    for project in await visible_projects(caller(request)):
        rows.append(await _row(project))
    return rows


async def _row(project: Project) -> dict[str, Any]:
    base = Deployment.filter(project_id=project.id)
    last = await base.order_by("-seq").first()
    current = (
        await Deployment.get_or_none(id=project.current_deployment_id)
        if project.current_deployment_id
        else None
    )
    # Unordered in SQL: ORDER BY seq would walk the (project, seq) index through the whole
    # history; the few active rows are sorted here.
    active = await base.filter(status__in=list(ACTIVE)).values("id", "status", "seq")
    active.sort(key=lambda row: row["seq"])
    running = [a for a in active if a["status"] == Status.IN_PROGRESS]
    return {
        "project": project,
        "last": last,
        "current": current,
        "running": running[0]["id"] if running else None,
        "waiting": sum(1 for a in active if a["status"] == Status.PENDING),
    }


async def dashboard(request: Request) -> Response:
    """Every project the caller may see, live."""
    return await render(request, "dashboard.html", {"rows": await project_rows(request)})


async def dashboard_stream(request: Request) -> Response:
    """The dashboard's rows as SSE (`projects` events of HTML), sent again when they change."""

    who = caller(request)
    assert who is not None
    allowed = Allowed(who)

    async def events() -> AsyncIterator[dict[str, str]]:
        sent, checked = None, asyncio.get_running_loop().time()
        while True:
            if asyncio.get_running_loop().time() - checked > RECHECK_SECONDS:
                try:  # signed out, disabled or demoted since: the stream ends
                    await check(request, Permission.SIGNED_IN)
                except AppError:
                    return
                checked = asyncio.get_running_loop().time()
            context = {"rows": await project_rows(request), "request": request, "allowed": allowed}
            html = templates.get_template("_project_rows.html").render(context)
            if html != sent:
                yield {"event": "projects", "data": html}
                sent = html
            await asyncio.sleep(REFRESH_SECONDS)

    return EventSourceResponse(events(), ping=15, send_timeout=30)


PAGES = [
    page("/login", login_page, Permission.PUBLIC),
    page("/", dashboard, Permission.SIGNED_IN),
    page("/dashboard/stream", dashboard_stream, Permission.SIGNED_IN),
]
