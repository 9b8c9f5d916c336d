"""Notification subscriptions over the API: a project's (by whoever may edit it) and every
project's, outages included (admins)."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise.exceptions import IntegrityError

from app.domain.notify import SYSTEM_EVENTS
from app.errors import Conflict, Invalid, NotFound
from app.models import NotifySubscription, Project
from app.notify import config
from app.web.context import actor, json_body, only, record
from app.web.lookup import find_project
from app.web.notifications import channel_named
from app.web.schemas import rfc3339


def subscription_json(subscription: NotifySubscription) -> dict[str, Any]:
    project = subscription.project
    return {
        "id": str(subscription.id),
        "channel": subscription.channel.name,
        "project": project.name if project is not None else None,
        "events": subscription.events,
        "created_by": subscription.created_by,
        "created_at": rfc3339(subscription.created_at),
    }


async def _subscription(request: Request, project: Project | None) -> NotifySubscription:
    """The subscription the path names; through a project's path, only one of that project."""
    try:
        sub_id = uuid.UUID(request.path_params["subscription"])
    except ValueError:
        raise NotFound("no such subscription", code="subscription_not_found") from None
    query = NotifySubscription.filter(id=sub_id)
    if project is not None:
        query = query.filter(project_id=project.id)
    found = await query.select_related("channel", "project").first()
    if found is None:
        raise NotFound("no such subscription", code="subscription_not_found")
    return found


def _events(value: object, every_project: bool) -> list[str]:
    events = config.check_events(value)
    if not every_project and SYSTEM_EVENTS & set(events):
        raise Invalid("outage and recovered are for all-projects subscriptions only",
                      field="events")  # fmt: skip
    return events


async def _subscribe(request: Request, project: Project | None) -> Response:
    body = only(await json_body(request), "channel", "events")
    channel = await channel_named(body.get("channel"))
    if channel is None:
        raise Invalid("channel names no channel", field="channel")
    events = _events(body.get("events"), every_project=project is None)
    project_id = project.id if project is not None else None
    taken = f"{channel.name!r} is subscribed already; delete that subscription to change it"
    if await NotifySubscription.filter(channel_id=channel.id, project_id=project_id).exists():
        raise Conflict(taken, code="already_subscribed")
    try:
        subscription = await NotifySubscription.create(
            channel=channel, project=project, events=events, created_by=actor(request)
        )
    except IntegrityError:
        raise Conflict(taken, code="already_subscribed") from None
    name = project.name if project is not None else None
    await record(request, "notify.subscription.create", name, target=channel.name,
                 details={"subscription": str(subscription.id), "events": events})  # fmt: skip
    return JSONResponse(subscription_json(subscription), status_code=201)


async def _unsubscribe(request: Request, project: Project | None) -> Response:
    subscription = await _subscription(request, project)
    await subscription.delete()
    name = subscription.project.name if subscription.project is not None else None
    await record(request, "notify.subscription.delete", name, target=subscription.channel.name,
                 details={"subscription": str(subscription.id)})  # fmt: skip
    return Response(status_code=204)


def _subscriptions_json(rows: list[NotifySubscription]) -> Response:
    return JSONResponse({"subscriptions": [subscription_json(s) for s in rows]})


async def list_subscriptions(request: Request) -> Response:
    """Every subscription, of each project and of all projects (`project` null)."""
    rows = await NotifySubscription.all().select_related("channel", "project")
    rows.sort(key=lambda s: (s.project is not None, s.project.name if s.project else "",
                             s.channel.name))  # fmt: skip
    return _subscriptions_json(rows)


async def create_subscription(request: Request) -> Response:
    """Subscribe a channel to events of every project, outages and recoveries included."""
    return await _subscribe(request, None)


async def delete_subscription(request: Request) -> Response:
    """Delete any subscription."""
    return await _unsubscribe(request, None)


async def list_project_subscriptions(request: Request) -> Response:
    """The project's subscriptions."""
    project = await find_project(request)
    query = NotifySubscription.filter(project_id=project.id).select_related("channel", "project")
    return _subscriptions_json(await query.order_by("channel__name"))


async def create_project_subscription(request: Request) -> Response:
    """Subscribe a channel to events of this project (`{"channel", "events"}`)."""
    return await _subscribe(request, await find_project(request))


async def delete_project_subscription(request: Request) -> Response:
    """Delete one of the project's subscriptions."""
    return await _unsubscribe(request, await find_project(request))
