"""Who may do what: one table of rules, as the README states it.

System roles are `admin`, `manager`, `developer` and `viewer`; on a project a developer may be
an `owner` or a `member`. Membership never grants more than the system role: it widens a
developer's rights on that project and nobody else's (a viewer made owner stays a viewer). A
project a caller may not see answers 404, never 403, so names do not leak; a visible project
the caller may not change answers 403.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    """A user's system role."""

    ADMIN = "admin"
    MANAGER = "manager"
    DEVELOPER = "developer"
    VIEWER = "viewer"


class ProjectRole(enum.StrEnum):
    """A developer's membership of one project."""

    OWNER = "owner"
    MEMBER = "member"


ROLES = tuple(Role)
PROJECT_ROLES = tuple(ProjectRole)
PRIVILEGED = frozenset({Role.ADMIN, Role.MANAGER})


class Permission(enum.StrEnum):
    PUBLIC = "public"  # health, login, the OpenAPI document
    WEBHOOK = "webhook"  # authenticated by the delivery's signature alone
    SIGNED_IN = "signed_in"  # any user: /me, own tokens, logout
    PROJECT_VIEW = "project_view"
    PROJECT_CREATE = "project_create"
    PROJECT_EDIT = "project_edit"
    PROJECT_OPERATE = "project_operate"  # trigger, cancel, rollback, replay
    PROJECT_APPROVE = "project_approve"
    USERS_READ = "users_read"
    USERS_WRITE = "users_write"
    AUDIT_READ = "audit_read"
    NOTIFY_MANAGE = "notify_manage"  # notification providers and channels
    ADMIN = "admin"  # the queue
    METRICS = "metrics"  # admins, or anyone with CAPSTAN_METRICS_PUBLIC=1


@dataclass(frozen=True)
class Caller:
    username: str
    role: str
    project_role: str | None = None  # the caller's membership of the project in question


def sees_project(caller: Caller) -> bool:
    return caller.role in PRIVILEGED | {Role.VIEWER} or caller.project_role is not None


def allows(caller: Caller, permission: Permission, *, members_can_approve: bool = False) -> bool:
    """Whether `caller` may do `permission` (on a project it can see, for project actions)."""
    role = caller.role
    # Only a developer's membership counts: admins and managers already may do everything on
    # every project, and a viewer's membership must not lift it above viewing.
    membership = caller.project_role if role == Role.DEVELOPER else None
    privileged = role in PRIVILEGED
    match permission:
        case Permission.PUBLIC | Permission.WEBHOOK | Permission.SIGNED_IN:
            return True
        case Permission.PROJECT_VIEW:
            return sees_project(caller)
        case Permission.PROJECT_CREATE:
            return role != Role.VIEWER
        case Permission.PROJECT_EDIT:
            return privileged or membership == ProjectRole.OWNER
        case Permission.PROJECT_OPERATE:
            return privileged or membership in PROJECT_ROLES
        case Permission.PROJECT_APPROVE:
            return (
                privileged
                or membership == ProjectRole.OWNER
                or (membership == ProjectRole.MEMBER and members_can_approve)
            )
        case Permission.USERS_READ | Permission.NOTIFY_MANAGE:
            return privileged
        case Permission.USERS_WRITE | Permission.ADMIN | Permission.METRICS:
            return role == Role.ADMIN
        case Permission.AUDIT_READ:
            return privileged or role == Role.DEVELOPER
    return False
