"""Authentication and the permission check wrapped around every route.

A request is made by a user through an API token (`Authorization: Bearer`) or a browser
session cookie (unsafe methods then need the CSRF token in `X-CSRF-Token`, and neither a
cross-site `Sec-Fetch-Site` nor another site's `Origin`). Each route declares one
`Permission` in the route list; a project the caller may not see is a 404, a visible one it
may not change a 403; denials are audited.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from app.accounts import audit, auth
from app.domain.access import Caller, Permission, Role, allows, sees_project
from app.errors import AppError, NotFound
from app.models import ApiToken, Membership, Project, User
from app.web.lookup import project_of

SESSION_COOKIE = "capstan_session"
SECURE_COOKIE = "__Host-capstan_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
Endpoint = Callable[[Request], Awaitable[Response]]


class Unauthenticated(AppError):
    status = 401
    code = "unauthenticated"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status = 403
    code = "forbidden"


@dataclass(frozen=True)
class Identity:
    user: User
    token: ApiToken | None
    session_csrf: str | None

    def actor(self, request: Request) -> audit.Actor:
        return audit.Actor(
            name=self.user.username,
            kind="token" if self.token else "user",
            token_id=str(self.token.id) if self.token else None,
            client=client_address(request),
            user_agent=request.headers.get("user-agent"),
        )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def cross_site(request: Request) -> bool:
    """Whether a browser says the request comes from another site: `Sec-Fetch-Site:
    cross-site`, or an `Origin` other than this server's (as reached, or CAPSTAN_PUBLIC_URL)."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    public = urlsplit(request.state.runtime.settings.base_url)
    own = {f"{request.url.scheme}://{request.headers.get('host')}".lower(),
           f"{public.scheme}://{public.netloc}".lower()}  # fmt: skip
    return origin.rstrip("/").lower() not in own


def session_cookie(request: Request) -> str | None:
    return request.cookies.get(SECURE_COOKIE) or request.cookies.get(SESSION_COOKIE)


async def identify(request: Request) -> Identity | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        found = await auth.user_for_token(header[7:].strip())
        return Identity(found[0], found[1], None) if found else None
    cookie = session_cookie(request)
    if cookie:
        session = await auth.user_for_session(cookie)
        return Identity(session[0], None, session[1].csrf) if session else None
    return None


async def caller_for(user: User, project: Project | None) -> Caller:
    """The user as the access rules see them on `project`. Only a developer's membership
    counts (`app.domain.access`), so only theirs is looked up."""
    role = None
    if project is not None and user.role == Role.DEVELOPER:
        membership = await Membership.get_or_none(project_id=project.id, user_id=user.id)
        role = membership.role if membership else None
    return Caller(user.username, user.role, role)


async def check(request: Request, permission: Permission) -> Identity:
    """Authenticate and authorize `request`; raise 401, 403 or 404 otherwise."""
    identity = await identify(request)
    if identity is None:
        raise Unauthenticated("sign in, or send Authorization: Bearer <token>")
    if identity.session_csrf is not None and request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token", "")
        # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
        same = hmac.compare_digest(sent.encode(), identity.session_csrf.encode())
        if cross_site(request) or not same:
            await _denied(request, identity, "csrf", None)
            raise Forbidden("missing or wrong X-CSRF-Token", code="csrf_failed")
    request.state.identity = identity
    request.state.username = identity.user.username
    project = await project_of(request)
    caller = await caller_for(identity.user, project)
    request.state.caller = caller
    if project is not None and not sees_project(caller):
        await _denied(request, identity, permission.value, project.name)
        raise _unseen(request, project)
    members_can_approve = bool(project and project.members_can_approve)
    if not allows(caller, permission, members_can_approve=members_can_approve):
        await _denied(request, identity, permission.value, project.name if project else None)
        raise Forbidden(f"your role may not do this ({permission.value})")
    return identity


def _unseen(request: Request, project: Project) -> NotFound:
    """The 404 for a project the caller may not see: the one an unknown id gets. Asked
    through a deployment, it names no project (the caller did not name one)."""
    if "project" in request.path_params:
        return NotFound(f"no project {project.name!r}", code="project_not_found")
    return NotFound("no such deployment", code="deployment_not_found")


async def _denied(request: Request, identity: Identity, what: str, project: str | None) -> None:
    await audit.record(
        identity.actor(request),
        "permission.denied",
        project=project,
        target=f"{request.method} {request.url.path}",
        details={"needs": what},
    )


def guarded(endpoint: Endpoint, permission: Permission) -> Endpoint:
    """`endpoint` behind `permission` (public and webhook routes pass straight through)."""
    if permission in (Permission.PUBLIC, Permission.WEBHOOK):
        return endpoint

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        public_metrics = request.state.runtime.settings.metrics_public
        if not (permission is Permission.METRICS and public_metrics):
            await check(request, permission)
        return await endpoint(request)

    return wrapper


def actor_of(request: Request) -> audit.Actor:
    identity: Identity | None = getattr(request.state, "identity", None)
    if identity is None:
        return audit.Actor("anonymous", "user", client=client_address(request),
                           user_agent=request.headers.get("user-agent"))  # fmt: skip
    return identity.actor(request)
