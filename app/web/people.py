"""Users, project members, API tokens, sign-in and the audit trail over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise.queryset import QuerySet

from app.accounts import audit, auth, users
from app.db import rows
from app.domain import text
from app.domain.access import PROJECT_ROLES
from app.errors import AppError, Invalid, NotFound, Throttled
from app.models import ApiToken, AuditEvent, Membership, Project, User
from app.web.context import int_param, json_body, only
from app.web.guard import (
    SECURE_COOKIE,
    SESSION_COOKIE,
    Forbidden,
    Identity,
    Unauthenticated,
    actor_of,
    client_address,
    cross_site,
    session_cookie,
)
from app.web.lookup import find_project
from app.web.schemas import rfc3339

AUDIT_FILTERS = {"project": 63, "actor": 128, "action": 64}  # the columns' widths
MAX_CREDENTIAL = auth.MAX_PASSWORD
# Sign-in reads JSON, sent as JSON: anything else is a 415. A cross-site page can make a
# browser post a form or `text/plain` without asking, but not `application/json`.
JSON_TYPE = "application/json"


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


# One row per project the user is a member of: a few, read at once (`app.db.rows.few`).
MEMBERSHIPS = (
    'SELECT p."name" AS "name", m."role" AS "role" FROM "memberships" m '
    'JOIN "projects" p ON p."id" = m."project_id" WHERE m."user_id" = {}'
)


def user_json(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role,
        "disabled": user.disabled,
        "created_at": rfc3339(user.created_at),
    }


def identity(request: Request) -> Identity:
    found: Identity = request.state.identity
    return found


async def find_user(request: Request) -> User:
    return await users.find(request.path_params["username"])


# Sign-in


async def login(request: Request) -> Response:
    """Sign in with username and password; sets the session cookie, returns the CSRF token."""
    await request.body()  # past its limit, a body is a 413 whatever it claims to be
    if _media_type(request) != JSON_TYPE:
        raise UnsupportedMediaType(
            'sign in with a JSON body {"username", "password"} sent as application/json'
        )
    if cross_site(request):
        raise Forbidden("sign-in from another site is refused", code="cross_site")
    body = await json_body(request)
    username, password = body.get("username", ""), body.get("password", "")
    for field, value in (("username", username), ("password", password)):
        if not isinstance(value, str) or len(value) > MAX_CREDENTIAL:
            raise Invalid(f"{field} must be a string of at most {MAX_CREDENTIAL} characters",
                          field=field)  # fmt: skip
    client = client_address(request)
    throttle = auth.Throttle(request.state.runtime.jobs.redis)
    wait = await throttle.retry_after(username, client)
    actor = audit.Actor(username or "?", "user", client=client,
                        user_agent=request.headers.get("user-agent"))  # fmt: skip
    if wait:
        raise Throttled("too many failed sign-ins; try again later",
                        retry_after=wait)  # fmt: skip
    user = await User.get_or_none(username=username) if auth.USERNAME.fullmatch(username) else None
    if not await auth.verify_password(user, password) or user is None or user.disabled:
        await throttle.failed(username, client)
        await audit.record(actor, "login.failed")
        raise Unauthenticated("wrong username or password")
    await throttle.succeeded(username)
    old = session_cookie(request)
    if old:
        await auth.end_session(old)
    session_id, csrf = await auth.start_session(user)
    await audit.record(actor, "login")
    response = JSONResponse({"username": user.username, "csrf_token": csrf})
    secure = request.url.scheme == "https"
    response.set_cookie(
        SECURE_COOKIE if secure else SESSION_COOKIE,
        session_id,
        max_age=int(auth.SESSION_MAX.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    return response


async def logout(request: Request) -> Response:
    """End this browser session."""
    cookie = session_cookie(request)
    if cookie:
        await auth.end_session(cookie)
    await audit.record(actor_of(request), "logout")
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(SECURE_COOKIE, path="/", secure=True)
    return response


async def me(request: Request) -> Response:
    """The caller: username, role and projects."""
    user = identity(request).user
    projects = await rows.few(MEMBERSHIPS, [user.id])
    return JSONResponse({**user_json(user), "projects": sorted(projects, key=lambda p: p["name"])})


# Users


async def create_user(request: Request) -> Response:
    """Create a user with a role."""
    body = await json_body(request)
    user = await users.create(actor_of(request), body.get("username"), body.get("password"),
                              body.get("role", "developer"))  # fmt: skip
    return JSONResponse(user_json(user), status_code=201)


async def list_users(request: Request) -> Response:
    """List users."""
    found = await User.all().order_by("username")
    return JSONResponse({"users": [user_json(u) for u in found]})


async def update_user(request: Request) -> Response:
    """Change a user's role, disabled flag or password."""
    user = await find_user(request)
    body = only(await json_body(request), "role", "disabled", "password")
    for field, value in body.items():
        if value is None:
            raise Invalid(f"{field} may not be null", field=field)
    data_dir = request.state.runtime.settings.data_dir
    await users.update(actor_of(request), user, data_dir, role=body.get("role"),
                       disabled=body.get("disabled"), password=body.get("password"))  # fmt: skip
    return JSONResponse(user_json(user))


async def delete_user(request: Request) -> Response:
    """Delete a user."""
    user = await find_user(request)
    await users.delete(actor_of(request), user, request.state.runtime.settings.data_dir)
    return Response(status_code=204)


# Members


async def list_members(request: Request) -> Response:
    """A project's members and their roles."""
    project = await find_project(request)
    members = await Membership.filter(project_id=project.id).prefetch_related("user")
    body = [{"username": m.user.username, "role": m.role} for m in members]
    return JSONResponse({"members": sorted(body, key=lambda m: m["username"])})


async def put_member(request: Request) -> Response:
    """Make a user an owner or member of the project."""
    project = await find_project(request)
    user = await find_user(request)
    role = (await json_body(request)).get("role")
    if role not in PROJECT_ROLES:
        raise Invalid("role must be owner or member", field="role")
    if not await Membership.filter(project_id=project.id, user_id=user.id).update(role=role):
        await Membership.create(project_id=project.id, user_id=user.id, role=role)
    await audit.record(actor_of(request), "member.set", project=project.name,
                       target=user.username, details={"role": role})  # fmt: skip
    return JSONResponse({"username": user.username, "role": role})


async def delete_member(request: Request) -> Response:
    """Remove a user from the project."""
    project = await find_project(request)
    user = await find_user(request)
    if not await Membership.filter(project_id=project.id, user_id=user.id).delete():
        raise NotFound("not a member", code="member_not_found")
    await audit.record(actor_of(request), "member.remove", project=project.name,
                       target=user.username)  # fmt: skip
    return Response(status_code=204)


# Tokens


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": str(token.id),
        "name": token.name,
        "prefix": token.prefix,
        "expires_at": rfc3339(token.expires_at),
        "last_used_at": rfc3339(token.last_used_at),
        "created_at": rfc3339(token.created_at),
    }


async def create_token(request: Request) -> Response:
    """Create an API token for yourself; it is shown this once."""
    body = await json_body(request, optional=True)
    token, secret = await users.issue_token(actor_of(request), identity(request).user,
                                            body.get("name", "token"),
                                            body.get("expires_in_days"))  # fmt: skip
    return JSONResponse({**token_json(token), "token": secret}, status_code=201)


async def list_tokens(request: Request) -> Response:
    """Your API tokens, without the tokens themselves."""
    tokens = await ApiToken.filter(user_id=identity(request).user.id).order_by("created_at")
    return JSONResponse({"tokens": [token_json(t) for t in tokens]})


async def delete_token(request: Request) -> Response:
    """Revoke one of your tokens (admins: anyone's)."""
    user = identity(request).user
    try:
        token_id = uuid.UUID(request.path_params["token"])
    except ValueError:
        raise NotFound("no such token", code="token_not_found") from None
    query = ApiToken.filter(id=token_id)
    if user.role != "admin":
        query = query.filter(user_id=user.id)
    if not await query.delete():
        raise NotFound("no such token", code="token_not_found")
    auth.forget()
    await audit.record(actor_of(request), "token.revoke", target=str(token_id))
    return Response(status_code=204)


# Audit


async def read_audit(request: Request) -> Response:
    """Audit events, newest first (`project`, `actor`, `action`, `limit`). A project's events
    are those of the project by that name now, not of a deleted one that had its name."""
    user = identity(request).user
    query = AuditEvent.all()
    if user.role == "developer":
        owned = await Membership.filter(user_id=user.id, role="owner").values_list(
            "project_id", flat=True
        )
        if not owned:
            raise Forbidden("you own no project whose audit you could read")
        query = query.filter(project_id__in=list(owned))
    for field, width in AUDIT_FILTERS.items():
        value = request.query_params.get(field)
        if value and not text.storable(value):
            raise Invalid(f"{field} holds a NUL character", field=field)
        if value and len(value) > width:  # no event has it, and the ORM refuses to look
            raise Invalid(f"{field} is at most {width} characters", field=field)
        if value and field == "project":
            query = await _project_events(query, value)
        elif value:
            query = query.filter(**{field: value})
    limit = int_param(request, "limit", 50, 1, 500)
    events = await query.order_by("-id").limit(limit)
    return JSONResponse({"events": [audit.event_json(e) for e in events]})


async def _project_events(query: QuerySet[AuditEvent], name: str) -> QuerySet[AuditEvent]:
    """The events of the project called `name` now; of deleted ones so called, when none is."""
    current = await Project.get_or_none(name=name)
    if current is None:
        return query.filter(project=name)
    return query.filter(project_id=current.id)
