"""The deployment page: status, stages, the live log.

The page is whole without JavaScript: the status, the stage timeline, the buttons the caller
may press, and the end of the stored log as plain text. With it, `frontend/static/log.js`
follows the log live (SSE), and the summary (header, timeline, buttons) is fetched again from
`/deployments/{id}/summary` when a stage changes, or every few seconds until the end.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from app.domain.access import Permission
from app.domain.status import ACTIVE, TERMINAL, StageState, Status, awaits_approval
from app.logs.reader import stored, tail_start
from app.logs.records import stage_marker, terminal_safe
from app.models import Deployment, Project
from app.web import forms
from app.web.context import caller
from app.web.lookup import find_deployment
from app.web.pages import Allowed, fragment, page, render

# What the page shows of the stored log without JavaScript: the last records, within a size.
TAIL_RECORDS = 500
TAIL_CHARS = 200_000
# Terminal escape sequences (colours, cursor moves): plain text shows none of them.
ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
ACTION = "POST /api/v1/deployments/{deployment}/"


async def deployment_page(request: Request) -> Response:
    """A deployment: its status and stages, what the caller may do, and its log."""
    dep, project = await find_deployment(request)
    context = summary(request, dep, project)
    # What the last form did shows inside the summary, which a boosted form swaps alone.
    context.update(notice=await forms.take_flash(request), flash={}, log=await log_tail(dep))
    return await render(request, "deployment.html", context)


async def deployment_summary(request: Request) -> Response:
    """The page's header, stage timeline and buttons, for the page to swap in live."""
    dep, project = await find_deployment(request)
    context = summary(request, dep, project)
    context.update(notice={}, flash={})
    return await render(request, "_deployment_summary.html", context)


def summary(request: Request, dep: Deployment, project: Project) -> dict[str, Any]:
    who = caller(request)
    assert who is not None  # the page's guard let a caller through
    allowed = Allowed(who, project)
    return {
        "dep": dep,
        "project": project,
        "allowed": allowed,
        "stages": timeline(dep),
        "terminal": dep.status in TERMINAL,
        "can": actions(dep, project, allowed, who.username),
        "waiting": waiting_for(dep, project, allowed, who.username),
    }


def current_stage(dep: Deployment) -> StageState | None:
    return dep.stages[dep.stage_index] if dep.stage_index < len(dep.stages) else None


def actions(dep: Deployment, project: Project, allowed: Allowed, username: str) -> dict[str, bool]:
    """Which buttons to show: the API would allow the call, and the state allows the action."""
    own = project.no_self_approval and dep.trigger.get("by") == username
    return {
        "approve": allowed(ACTION + "approve")
        and dep.status == Status.IN_PROGRESS
        and awaits_approval(current_stage(dep))
        and not own,
        "cancel": allowed(ACTION + "cancel") and dep.status in ACTIVE,
        "rollback": allowed(ACTION + "rollback") and dep.status == Status.IN_PROGRESS,
    }


def waiting_for(dep: Deployment, project: Project, allowed: Allowed, username: str) -> str | None:
    """Why a gate waits on someone else, for a caller who sees no Approve button."""
    if dep.status != Status.IN_PROGRESS or not awaits_approval(current_stage(dep)):
        return None
    if not allowed(ACTION + "approve"):
        return "Waiting for someone allowed to approve this project's deployments."
    if project.no_self_approval and dep.trigger.get("by") == username:
        return "This project does not let you approve your own deployment: ask someone else."
    return None


def timeline(dep: Deployment) -> list[dict[str, Any]]:
    """Each stage as stored, with whether it is a gate and whether it is the current one."""
    rows = []
    for index, stage in enumerate(dep.stages):
        spec = dep.pipeline[index] if index < len(dep.pipeline) else {}
        rows.append(
            {
                **stage,
                "gate": bool(spec.get("approval")),
                "current": index == dep.stage_index and dep.status == Status.IN_PROGRESS,
            }
        )
    return rows


def readable(line: str) -> str:
    """A log line as plain text: no escape sequences, other control characters shown."""
    return terminal_safe(ESCAPES.sub("", line))


async def log_tail(dep: Deployment) -> dict[str, Any]:
    """The end of the stored log as text, and whether there is more before it."""
    start = await tail_start(str(dep.id), TAIL_RECORDS)
    lines: list[str] = []
    async for batch in stored(str(dep.id), start):
        if batch.kind == "lines":
            lines.extend(readable(line) for line in batch.lines())
        elif batch.event()["status"] in ("running", "awaiting_approval"):
            lines.append(stage_marker(batch.event()))
    text = "\n".join(lines)
    cut = len(text) > TAIL_CHARS
    if cut:
        text = text[-TAIL_CHARS:].partition("\n")[2]
    return {"text": text, "earlier": start > 0 or cut, "empty": not lines}


PAGES: list[BaseRoute] = [
    page("/deployments/{deployment}", deployment_page, Permission.PROJECT_VIEW),
    fragment("/deployments/{deployment}/summary", deployment_summary, Permission.PROJECT_VIEW),
]
