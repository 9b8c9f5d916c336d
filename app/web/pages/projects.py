"""Project pages: create, overview and history, webhooks, secrets, members, settings, and the
confirmation steps (roll back, rotate the webhook secret, delete) that work without JavaScript.

The pages only read; every form posts to the API route itself (`app.web.forms`), and each
control is shown when `allowed(<the API route>)` says the caller may use it.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from app.accounts.auth import USERNAME
from app.domain.access import Permission, sees_project
from app.domain.pipeline import DEFAULT_TIMEOUT, EDITABLE, KEEP_RELEASES, MAX_KEEP_RELEASES
from app.domain.status import Concurrency, Status
from app.errors import Invalid, NotFound
from app.models import Delivery, Deployment, Membership, Project, Secret
from app.web.context import int_param, runtime
from app.web.forms import take_flash
from app.web.guard import caller_for
from app.web.lookup import find_project
from app.web.pages import page, render
from app.web.schemas import project_json
from app.web.secrets import SECRET_NAME

PER_PAGE = 20
DELIVERIES_SHOWN = 20
EXAMPLE_STAGES = [
    {"name": "build", "run": "make build", "timeout": 900, "retries": 1},
    {"name": "approve", "approval": True},
    {"name": "release", "run": "./bin/release"},
]
# Each forge's name, and where its hook settings take the secret.
FORGES = {
    "github": ("GitHub", "Content type application/json; the secret goes in Secret."),
    "gitlab": ("GitLab", "The secret goes in Secret token; trigger on Push and Tag push events."),
    "gitea": ("Gitea or Forgejo", "Content type application/json; the secret goes in Secret."),
}
CONCURRENCY = {
    Concurrency.QUEUE: "waits its turn (queue)",
    Concurrency.REJECT: "is refused (reject)",
    Concurrency.SUPERSEDE: "replaces the one waiting, if any (supersede)",
}
NEW_PROJECT = {
    "branch": "main",
    "stages": EXAMPLE_STAGES,
    "concurrency": Concurrency.QUEUE.value,
    "keep_releases": KEEP_RELEASES,
}


# What the forms show


def form_values(source: dict[str, Any]) -> dict[str, Any]:
    """A project's fields (or what a failed form sent) as the text its form fields show."""
    out: dict[str, Any] = {}
    for key, value in source.items():
        if key == "stages" and not isinstance(value, str):
            out[key] = json.dumps(value, indent=2) if value is not None else ""
        elif key == "paths" and isinstance(value, list):
            out[key] = "\n".join(str(v) for v in value)
        elif isinstance(value, bool):
            out[key] = value
        else:
            out[key] = "" if value is None else str(value)
    return out


def field_errors(flash: dict[str, Any]) -> dict[str, str]:
    """The flash's error by the form field it belongs to (`stages[2].run` is `stages`'s)."""
    field, error = flash.get("field"), flash.get("error")
    if not error or not isinstance(field, str):
        return {}
    base = re.split(r"[.\[]", field, maxsplit=1)[0]
    return {base: str(error) if base == field else f"{field}: {error}"}


def kept(flash: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """`base` with the values a failed form sent put back."""
    values = flash.get("values") if flash.get("error") else None
    return form_values({**base, **values} if isinstance(values, dict) else base)


def seconds_text(seconds: int) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def pipeline(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The project's stages in order, as the overview shows them."""
    return [
        {
            "name": s["name"],
            "run": s.get("run"),
            "gate": bool(s.get("approval")),
            "timeout": seconds_text(int(s.get("timeout", DEFAULT_TIMEOUT))),
            "retries": int(s.get("retries", 0)),
        }
        for s in stages
    ]


def _context(request: Request, project: Project, tab: str) -> dict[str, Any]:
    shown = project_json(project, runtime(request).settings.base_url)
    return {"project": project, "shown": shown, "tab": tab}


# Pages


async def new_project(request: Request) -> Response:
    """The create form; `?created=<id>` (where the form lands) goes on to that project."""
    created = request.query_params.get("created")
    if created:
        return await _to_created(request, created)
    flash = await take_flash(request)
    context = {"values": kept(flash, NEW_PROJECT), "errors": field_errors(flash), "flash": flash,
               "concurrency": CONCURRENCY, "max_keep": MAX_KEEP_RELEASES}  # fmt: skip
    return await render(request, "new_project.html", context)


async def _to_created(request: Request, created: str) -> Response:
    try:
        project = await Project.get_or_none(id=uuid.UUID(created))
    except ValueError:
        project = None
    identity = request.state.identity
    if project is None or not sees_project(await caller_for(identity.user, project)):
        raise NotFound("no such project", code="project_not_found")
    # Not rendered here: the flash (the webhook secret, shown once) waits for the project page.
    return RedirectResponse(f"/projects/{project.name}", status_code=303)


async def project_overview(request: Request) -> Response:
    """The pipeline, the current release, a trigger form, and the history, newest first."""
    project = await find_project(request)
    flash = await take_flash(request)
    before = None
    if "before" in request.query_params:
        before = int_param(request, "before", 0, 1, 2**62)
    current = None
    if project.current_deployment_id:
        current = await Deployment.get_or_none(id=project.current_deployment_id)
    context = _context(request, project, "overview")
    releases = runtime(request).settings.projects_dir / project.name
    context.update(await history(project, before, current, releases))
    context.update(
        stages=pipeline(project.stages),
        current=current,
        values=kept(flash, {"ref": "", "version": ""}),
        errors=field_errors(flash),
        flash=flash,
    )
    return await render(request, "project.html", context)


async def history(
    project: Project, before: int | None, current: Deployment | None, releases: Path
) -> dict[str, Any]:
    """A page of the project's deployments, newest first, before the seq `before`: the rows,
    the seq to page on from (None on the last page), the rows one may roll back to (their
    release still on disk in `releases`) and those pruned since, and the seq of each
    rollback's target."""
    query = Deployment.filter(project_id=project.id)
    if before is not None:
        query = query.filter(seq__lt=before)
    rows = await query.order_by("-seq").limit(PER_PAGE + 1)
    older = rows[PER_PAGE - 1].seq if len(rows) > PER_PAGE else None
    rows = rows[:PER_PAGE]
    targets = {r.rollback_to for r in rows if r.rollback_to}
    seqs = dict(await Deployment.filter(id__in=targets).values_list("id", "seq")) if targets else {}
    earlier = [d for d in rows if _may_roll_back(d, current)]
    on_disk = {d.id for d in earlier if (releases / str(d.release)).is_dir()}
    return {
        "rows": rows,
        "older": older,
        "paged": before is not None,
        "rollback_seqs": seqs,
        "rollbackable": on_disk,
        "pruned": {d.id for d in earlier} - on_disk,
    }


def _may_roll_back(dep: Deployment, current: Deployment | None) -> bool:
    """An earlier COMPLETED release, not the one `current` points at."""
    return bool(
        current is not None
        and dep.status == Status.COMPLETED
        and dep.release
        and dep.release != current.release
    )


async def confirm_rollback(request: Request) -> Response:
    """What rolling back to `?to=<id>` will do, and the form that does it."""
    project = await find_project(request)
    try:
        target_id = uuid.UUID(request.query_params.get("to", ""))
    except ValueError:
        raise Invalid("to must be a deployment id", field="to") from None
    target = await Deployment.get_or_none(id=target_id, project_id=project.id)
    if target is None or target.status != Status.COMPLETED:
        raise NotFound("no COMPLETED deployment of this project by that id", code="not_found")
    current = None
    if project.current_deployment_id:
        current = await Deployment.get_or_none(id=project.current_deployment_id)
    context = _context(request, project, "overview")
    context.update(target=target, current=current)
    return await render(request, "project_rollback.html", context)


async def project_webhooks(request: Request) -> Response:
    """The forge URLs, the secret's rotation, and the recent deliveries."""
    project = await find_project(request)
    context = _context(request, project, "webhooks")
    rows = Delivery.filter(project_id=project.id).order_by("-received_at")
    context.update(deliveries=await rows.limit(DELIVERIES_SHOWN), forges=FORGES)
    return await render(request, "project_webhooks.html", context)


async def confirm_rotate(request: Request) -> Response:
    """What rotating the webhook secret does, and the form that does it."""
    project = await find_project(request)
    return await render(request, "project_rotate.html", _context(request, project, "webhooks"))


async def project_secrets(request: Request) -> Response:
    """The secrets' names (never their values); `?name=` opens the form that sets one."""
    project = await find_project(request)
    flash = await take_flash(request)
    errors = field_errors(flash)
    name = request.query_params.get("name", "").strip()
    if name and not SECRET_NAME.fullmatch(name):
        errors["name"] = "names are capitals, digits and _, not starting with a digit"
    context = _context(request, project, "secrets")
    fields = ("name", "updated_at", "updated_by")  # never the value
    context.update(
        secrets=await Secret.filter(project_id=project.id).order_by("name").values(*fields),
        name=name,
        setting=name if name and "name" not in errors else None,
        errors=errors,
        flash=flash,
    )
    return await render(request, "project_secrets.html", context)


async def project_members(request: Request) -> Response:
    """Who may work on the project, and as what; `?username=` opens the form that adds one."""
    project = await find_project(request)
    flash = await take_flash(request)
    errors = field_errors(flash)
    username = request.query_params.get("username", "").strip()
    if username and not USERNAME.fullmatch(username):
        errors["username"] = "usernames are lower-case letters, digits and . _ -"
    rows = await Membership.filter(project_id=project.id).prefetch_related("user")
    members = sorted(({"username": m.user.username, "role": m.role} for m in rows),
                     key=lambda m: m["username"])  # fmt: skip
    context = _context(request, project, "members")
    context.update(
        members=members,
        username=username,
        adding=quote(username, safe="") if username and "username" not in errors else None,
        errors=errors,
        flash=flash,
    )
    return await render(request, "project_members.html", context)


async def project_settings(request: Request) -> Response:
    """Every field but the name, to change; the API's errors shown by their field."""
    project = await find_project(request)
    flash = await take_flash(request)
    context = _context(request, project, "settings")
    fields = {key: context["shown"][key] for key in EDITABLE}
    context.update(values=kept(flash, fields), errors=field_errors(flash), flash=flash,
                   concurrency=CONCURRENCY, max_keep=MAX_KEEP_RELEASES)  # fmt: skip
    return await render(request, "project_settings.html", context)


async def confirm_delete(request: Request) -> Response:
    """What deleting the project removes, and the form that does it."""
    project = await find_project(request)
    context = _context(request, project, "settings")
    context["deployments"] = await Deployment.filter(project_id=project.id).count()
    return await render(request, "project_delete.html", context)


PAGES: list[BaseRoute] = [
    page("/projects/new", new_project, Permission.PROJECT_CREATE),
    page("/projects/{project}", project_overview, Permission.PROJECT_VIEW),
    page("/projects/{project}/rollback", confirm_rollback, Permission.PROJECT_OPERATE),
    page("/projects/{project}/webhooks", project_webhooks, Permission.PROJECT_VIEW),
    page("/projects/{project}/webhooks/rotate", confirm_rotate, Permission.PROJECT_EDIT),
    page("/projects/{project}/secrets", project_secrets, Permission.PROJECT_VIEW),
    page("/projects/{project}/members", project_members, Permission.PROJECT_VIEW),
    page("/projects/{project}/settings", project_settings, Permission.PROJECT_EDIT),
    page("/projects/{project}/delete", confirm_delete, Permission.PROJECT_EDIT),
]
