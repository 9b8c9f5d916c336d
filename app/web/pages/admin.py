"""Admin pages: the queue board, users, your API tokens, the audit trail.

Each page reads what the matching API route reads, behind the same permission; its forms post
to the API routes themselves (`app.web.forms`). A form names itself in its `_back` URL
(`?form=…`), so an error the API answers is shown beside the form that caused it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from tortoise.queryset import QuerySet

from app.accounts import audit
from app.domain import text
from app.domain.access import PRIVILEGED, ROLES, Permission, ProjectRole, Role
from app.domain.status import StageStatus, Status
from app.errors import Invalid
from app.models import ApiToken, AuditEvent, Deployment, Membership, Project, User
from app.queue import JobQueue
from app.web.context import int_param, runtime
from app.web.guard import Forbidden, caller_for
from app.web.pages import Allowed, form_failure, fragment, page, render
from app.web.people import AUDIT_FILTERS, _project_events, identity

CHECK_SECONDS = 2.0
FAILED_WINDOW = dt.timedelta(hours=24)
FAILED_SHOWN = 50  # failed deployments on the board, newest first
# SAQ registers a worker for its `worker_info` timer (10 s) + 1 s at each heartbeat.
WORKER_BEAT_TTL = 11.0
AUDIT_PAGE, AUDIT_MAX = 50, 500  # GET /api/v1/audit's default and largest `limit`


# The queue


async def queue_health(jobs: JobQueue) -> dict[str, Any]:
    """Redis, the job counts and each worker with its last heartbeat, from SAQ's own records."""
    try:
        info = await asyncio.wait_for(jobs.queue.info(), CHECK_SECONDS)
        beats: Any = await asyncio.wait_for(
            jobs.redis.zrange(jobs.queue.namespace("stats"), 0, -1, withscores=True),
            CHECK_SECONDS,
        )
    except (RedisError, OSError, TimeoutError):
        return {"redis": False}
    now_ms = dt.datetime.now(dt.UTC).timestamp() * 1000
    expiry = {key.decode().rsplit(":", 1)[-1]: score for key, score in beats}
    workers = []
    for worker_id, worker in sorted(info["workers"].items()):
        stats: dict[str, Any] = dict(worker.get("stats") or {})
        seen = max(WORKER_BEAT_TTL - (expiry.get(worker_id, now_ms) - now_ms) / 1000, 0)
        workers.append({"id": worker_id, "beat": round(seen), "stats": stats,
                        "uptime": _span(stats.get("uptime", 0) / 1000)})  # fmt: skip
    counts = {"queued": info["queued"], "active": info["active"], "scheduled": info["scheduled"]}
    return {"redis": True, **counts, "workers": workers}


def _span(seconds: float) -> str:
    """`2 h 5 min`: how long a worker has been up."""
    whole = int(seconds)
    if whole >= 86400:
        return f"{whole // 86400} d {whole % 86400 // 3600} h"
    if whole >= 3600:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 60} min" if whole >= 60 else f"{whole} s"


def _stage(dep: Deployment) -> dict[str, Any]:
    """The stage a running deployment is at."""
    return dict(dep.stages[dep.stage_index]) if dep.stage_index < len(dep.stages) else {}


def _failed_stage(dep: Deployment) -> dict[str, Any]:
    """The stage a failed deployment failed at."""
    found = [s for s in dep.stages if s.get("status") == StageStatus.FAILED]
    return dict(found[0]) if found else {}


async def board(request: Request) -> dict[str, Any]:
    """The queue's health and, per project with any, what runs, what waits (in queue order)
    and what failed in the last 24 h."""
    since = dt.datetime.now(dt.UTC) - FAILED_WINDOW
    pending = await Deployment.filter(status=Status.PENDING).order_by("seq")
    running = await Deployment.filter(status=Status.IN_PROGRESS).order_by("seq")
    failed = (
        await Deployment.filter(status=Status.FAILED, finished_at__gte=since)
        .order_by("-seq")
        .limit(FAILED_SHOWN)
    )
    ids = {d.project_id for d in (*pending, *running, *failed)}
    user = identity(request).user
    projects = []
    for project in await Project.filter(id__in=list(ids)).order_by("name"):
        projects.append({
            "project": project,
            "allowed": Allowed(await caller_for(user, project), project),
            "running": [(d, _stage(d)) for d in running if d.project_id == project.id],
            "pending": [d for d in pending if d.project_id == project.id],
            "failed": [(d, _failed_stage(d)) for d in failed if d.project_id == project.id],
        })  # fmt: skip
    return {
        "health": await queue_health(runtime(request).jobs),
        "projects": projects,
        "idle": await Project.exclude(id__in=list(ids)).count(),
        "now": dt.datetime.now(dt.UTC),
    }


async def queue(request: Request) -> Response:
    """The queue board: health, and each project's running, pending and failed deployments."""
    return await render(request, "queue.html", await board(request))


async def queue_board(request: Request) -> Response:
    """The board alone, for htmx to poll (the page's flash is left for the page)."""
    return await render(request, "_queue_board.html", {**await board(request), "flash": {}})


# Users


async def users(request: Request) -> Response:
    """Every user with role and state; admins also create, change and delete them here."""
    flash, failure = await form_failure(request)
    found = await User.all().order_by("username")
    context = {"users": found, "roles": ROLES, "flash": flash, "failure": failure}
    return await render(request, "users.html", context)


# Tokens


async def tokens(request: Request) -> Response:
    """Your API tokens (never the tokens themselves); create and revoke them here."""
    flash, failure = await form_failure(request)
    user = identity(request).user
    found = await ApiToken.filter(user_id=user.id).order_by("created_at")
    now = dt.datetime.now(dt.UTC)
    context = {"tokens": found, "now": now, "flash": flash, "failure": failure}
    return await render(request, "tokens.html", context)


# Audit


async def readable_events(user: User, filters: dict[str, str]) -> QuerySet[AuditEvent]:
    """The events `user` may read, filtered by `project`, `actor` and `action` as
    `GET /api/v1/audit` (app.web.people.read_audit) does: 403 for a developer who owns no
    project, 422 for a value no event can have."""
    query = AuditEvent.all()
    if user.role == Role.DEVELOPER:
        owned = await Membership.filter(user_id=user.id, role=ProjectRole.OWNER).values_list(
            "project_id", flat=True
        )
        if not owned:
            raise Forbidden("you own no project whose audit you could read")
        query = query.filter(project_id__in=list(owned))
    for field, width in AUDIT_FILTERS.items():
        value = filters.get(field)
        if value and not text.storable(value):
            raise Invalid(f"{field} holds a NUL character", field=field)
        if value and len(value) > width:
            raise Invalid(f"{field} is at most {width} characters", field=field)
        if value and field == "project":
            query = await _project_events(query, value)
        elif value:
            query = query.filter(**{field: value})
    return query


def _details(details: dict[str, Any]) -> str:
    return json.dumps(details, sort_keys=True, separators=(", ", ": ")) if details else ""


def _link(filters: dict[str, str], limit: int, **extra: Any) -> str:
    """The audit page with these filters (and `limit`, unless the default) and `extra`."""
    values = {k: v for k, v in filters.items() if v}
    values.update({"limit": str(limit)} if limit != AUDIT_PAGE else {}, **extra)
    return "/audit" + (f"?{urlencode(values)}" if values else "")


async def audit_page(request: Request) -> Response:
    """Events newest first, filtered and paged by id, under the chain's verification."""
    user = identity(request).user
    filters = {name: request.query_params.get(name, "") for name in AUDIT_FILTERS}
    error, events, older = None, [], None
    try:
        limit = int_param(request, "limit", AUDIT_PAGE, 1, AUDIT_MAX)
        query = await readable_events(user, filters)
        if "before" in request.query_params:
            query = query.filter(id__lt=int_param(request, "before", 0, 1, 2**62))
        events = await query.order_by("-id").limit(limit + 1)
    except Invalid as exc:
        error, limit = exc, AUDIT_PAGE
    if len(events) > limit:
        events = events[:limit]
        older = _link(filters, limit, before=events[-1].id)
    checked, broken, why = await audit.verify()
    context = {
        "events": [(e, _details(e.details)) for e in events],
        "filters": filters,
        "limit": limit,
        "error": error,
        "older": older,
        "newest": _link(filters, limit) if "before" in request.query_params else None,
        "chain": {"checked": checked, "broken": broken, "why": why},
        "actions": await _actions(),
        "privileged": user.role in PRIVILEGED,
    }
    return await render(request, "audit.html", context)


async def _actions() -> list[str]:
    """Every action the trail holds, for the filter's suggestions."""
    found = await AuditEvent.all().distinct().order_by("action").values_list("action", flat=True)
    return [str(a) for a in found]


PAGES: list[BaseRoute] = [
    page("/queue", queue, Permission.ADMIN),
    fragment("/queue/board", queue_board, Permission.ADMIN),
    page("/users", users, Permission.USERS_READ),
    page("/tokens", tokens, Permission.SIGNED_IN),
    page("/audit", audit_page, Permission.AUDIT_READ),
]
