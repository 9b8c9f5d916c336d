"""The web UI: server-rendered pages (Jinja2, autoescaped) over the API's own routes.

Pages are GET routes behind the same guard and `Permission`s as the API. What a page does, its
forms post to the API routes themselves (`app.web.forms` bridges a form to the JSON call), so
an action a page offers is allowed exactly when the API call is. `Allowed` answers, for the
templates, whether a button's API call would be allowed to this caller.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from app.domain.access import Caller, Permission, allows
from app.errors import AppError
from app.models import Project
from app.web import forms
from app.web.guard import Identity, Unauthenticated, caller_for, check

# Installed, the top-level `frontend/` folder is the package `app.frontend` (pyproject.toml).
_INSTALLED = Path(__file__).resolve().parents[2] / "frontend"
FRONTEND = _INSTALLED if _INSTALLED.is_dir() else Path(__file__).resolve().parents[3] / "frontend"

templates = Jinja2Templates(directory=FRONTEND / "templates")
Page = Callable[[Request], Awaitable[Response]]


def ago(value: datetime | str | None) -> str:
    """`3 min ago`, for the templates."""
    if value is None:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    seconds = int((datetime.now(UTC) - when).total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{max(seconds, 0)} s ago"


def duration(start: datetime | str | None, end: datetime | str | None) -> str:
    """`1 min 4 s` between two times (now when `end` is None), for the templates."""
    if start is None:
        return ""
    begin = datetime.fromisoformat(start) if isinstance(start, str) else start
    stop = datetime.fromisoformat(end) if isinstance(end, str) else (end or datetime.now(UTC))
    seconds = max(int((stop - begin).total_seconds()), 0)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


templates.env.filters.update(ago=ago, duration=duration)


class Allowed:
    """Whether the caller may make an API call, as `allowed("POST /api/v1/…")` in templates:
    the permission of that route in the route table, for this caller on this project."""

    def __init__(self, caller: Caller, project: Project | None = None) -> None:
        self.caller, self.project = caller, project

    def __call__(self, route: str) -> bool:
        from app.web.routes import PERMISSIONS  # the table lists the pages too

        method, path = route.split(" ", 1)
        members_can_approve = bool(self.project and self.project.members_can_approve)
        return allows(self.caller, PERMISSIONS[(method, path)],
                      members_can_approve=members_can_approve)  # fmt: skip


async def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    """Template `name` with what every page shows: the user, the CSRF token, the flash
    (what the last form did), and `allowed` for the page's project."""
    identity: Identity | None = getattr(request.state, "identity", None)
    context = dict(context or {})
    project = context.get("project")
    if identity is not None and "allowed" not in context:
        caller = await caller_for(identity.user, project if isinstance(project, Project) else None)
        context["allowed"] = Allowed(caller, project if isinstance(project, Project) else None)
    context.setdefault("flash", await forms.take_flash(request) if identity else {})
    context.update(user=identity.user if identity else None,
                   csrf=identity.session_csrf if identity else None)  # fmt: skip
    return templates.TemplateResponse(request, name, context, status_code=status)


# Each page's permission (the API's are in `app.web.routes.PERMISSIONS`).
PAGE_PERMISSIONS: dict[str, Permission] = {}


async def form_failure(request: Request) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The flash for the top of the page, and the error of the form named `?form=`, shown
    beside that form instead."""
    flash = await forms.take_flash(request)
    form = request.query_params.get("form")
    if not form or not flash.get("error"):
        return flash, None
    failure = {"form": form, "error": flash.pop("error"), "field": flash.pop("field", None),
               "submitted": flash.pop("values", None) or {}}  # fmt: skip
    return flash, failure


def page(path: str, endpoint: Page, permission: Permission) -> Route:
    """A GET page behind `permission`; signed out, it sends the browser to sign in first, and
    an error is a page, not JSON."""
    PAGE_PERMISSIONS[path] = permission

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        try:
            if permission is not Permission.PUBLIC:
                await check(request, permission)
            return await endpoint(request)
        except Unauthenticated:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        except AppError as exc:
            return await render(request, "error.html", {"error": exc}, status=exc.status)

    return Route(path, wrapper, methods=["GET"], name=f"page_{endpoint.__name__}",
                 include_in_schema=False)  # fmt: skip


def fragment(path: str, endpoint: Page, permission: Permission) -> Route:
    """A piece of a page that htmx polls. Signed out, refused or gone since, it answers htmx
    with `HX-Refresh`, so the browser reloads the whole page and that page says what now;
    anyone else gets what `page` would answer."""
    as_page = page(path, endpoint, permission).endpoint

    async def wrapper(request: Request) -> Response:
        if "hx-request" not in request.headers:
            return await as_page(request)
        try:
            await check(request, permission)
            return await endpoint(request)
        except AppError:
            return Response(status_code=200, headers={"HX-Refresh": "true"})

    return Route(path, wrapper, methods=["GET"], name=f"fragment_{endpoint.__name__}",
                 include_in_schema=False)  # fmt: skip
