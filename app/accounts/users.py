"""The user service: creating, changing and deleting users, and issuing their API tokens.

The web handlers (`app.web.people`) and the maintenance commands (`app.cli.admin`) both call
these, so a rule (a password's quality, the last active admin, signing out on a password
change, the audit record) is written once.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tortoise.exceptions import IntegrityError

from app.accounts import audit, auth
from app.errors import Conflict, Invalid, NotFound
from app.models import ApiToken, User

MAX_TOKEN_DAYS = 3650
MAX_TOKEN_NAME = 128


async def find(username: str) -> User:
    user = await User.get_or_none(username=username) if auth.USERNAME.fullmatch(username) else None
    if user is None:
        raise NotFound(f"no user {username!r}", code="user_not_found")
    return user


async def create(actor: audit.Actor, username: object, password: object, role: object) -> User:
    """A new user; 422 for a bad name, role or password, 409 if the name is taken."""
    name = auth.check_username(username)
    checked_role = auth.check_role(role)
    password_hash = await auth.hash_password(password, name)
    try:
        user = await User.create(username=name, password_hash=password_hash, role=checked_role)
    except IntegrityError:
        raise Conflict(f"user {name!r} exists", code="user_exists") from None
    await audit.record(actor, "user.create", target=name, details={"role": checked_role})
    return user


async def update(
    actor: audit.Actor,
    user: User,
    data_dir: Path,
    *,
    role: object = None,
    disabled: object = None,
    password: object = None,
) -> User:
    """Change what is given (None: unchanged). A new password or disabling signs the user out
    everywhere; the last active admin cannot be demoted or disabled (409)."""
    before = {"role": user.role, "disabled": user.disabled}
    if role is not None:
        user.role = auth.check_role(role)
    if disabled is not None:
        if not isinstance(disabled, bool):
            raise Invalid("disabled must be true or false", field="disabled")
        user.disabled = disabled
    if password is not None:
        user.password_hash = await auth.hash_password(password, user.username)
    if before["role"] == "admin" and (user.role != "admin" or user.disabled):
        await _keep_an_admin(user)
    await user.save()
    auth.forget()
    if password is not None or user.disabled:
        await auth.end_sessions(user.id)
    if password is not None and user.username == "admin":
        await auth.retire_initial_password(data_dir)
    after = {"role": user.role, "disabled": user.disabled}
    details = {"before": before, "after": after, "password_changed": password is not None}
    await audit.record(actor, "user.update", target=user.username, details=details)
    return user


async def delete(actor: audit.Actor, user: User, data_dir: Path) -> None:
    if user.role == "admin":
        await _keep_an_admin(user)
    await user.delete()
    auth.forget()
    if user.username == "admin":
        await auth.retire_initial_password(data_dir)
    await audit.record(actor, "user.delete", target=user.username)


async def _keep_an_admin(leaving: User) -> None:
    others = User.filter(role="admin", disabled=False).exclude(id=leaving.id)
    if not await others.exists():
        raise Conflict("Capstan needs at least one active admin", code="last_admin")


async def issue_token(
    actor: audit.Actor, user: User, name: object, expires_in_days: object = None
) -> tuple[ApiToken, str]:
    """A new API token for `user` and its secret, shown this once."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_TOKEN_NAME:
        raise Invalid(f"name must be 1 to {MAX_TOKEN_NAME} characters", field="name")
    token, secret = await auth.create_token(user, name, _expiry(expires_in_days))
    await audit.record(actor, "token.create", target=str(token.id),
                       details={"user": user.username, "name": name})  # fmt: skip
    return token, secret


def _expiry(days: object) -> dt.datetime | None:
    if days is None:
        return None
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_TOKEN_DAYS:
        raise Invalid(f"expires_in_days must be 1 to {MAX_TOKEN_DAYS}", field="expires_in_days")
    return auth.now() + dt.timedelta(days=days)
