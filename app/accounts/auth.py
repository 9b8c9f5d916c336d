"""Identities: passwords (argon2id), API tokens, browser sessions and login throttling.

Nothing stored can be replayed to sign in: tokens and session ids are kept as SHA-256 digests
of 256 random bits, passwords as argon2id hashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import os
import re
import secrets
import time
import uuid
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.domain.access import ROLES, Role
from app.errors import Invalid
from app.models import ApiToken, User, WebSession

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
SESSION_IDLE = dt.timedelta(hours=12)
SESSION_MAX = dt.timedelta(days=7)
# How stale `last_used_at` and a session's `seen_at` may get: writes once a minute, not per request.
TOUCH_EVERY = dt.timedelta(minutes=1)
TOKEN_PREFIX = "cap_"
INITIAL_PASSWORD = "initial-admin-password"  # in the data dir, until the password is changed
# Failed logins allowed per account, and per client address, in the window; then 429.
ACCOUNT_FAILURES, CLIENT_FAILURES, WINDOW_SECONDS = 5, 20, 900

HASHER = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4: above OWASP's minimum
COMMON = frozenset((Path(__file__).parent / "common-passwords.txt").read_text().split())


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_username(username: object) -> str:
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise Invalid("username must match ^[a-z0-9][a-z0-9._-]{0,62}$", field="username")
    return username


def check_role(role: object) -> Role:
    if not isinstance(role, str) or role not in ROLES:
        raise Invalid(f"role must be one of: {', '.join(ROLES)}", field="role")
    return Role(role)


async def hash_password(password: object, username: str = "") -> str:
    """The argon2id hash of an acceptable password (8 to 1024 characters, not a common one),
    computed in a thread: a 0.1 s hash must not stall the event loop."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Invalid(
            f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", field="password"
        )
    if password.lower() in COMMON or password.lower() == username.lower():
        raise Invalid("this password is too common; choose another", field="password")
    return await asyncio.to_thread(HASHER.hash, password)


async def verify_password(user: User | None, password: str) -> bool:
    """Constant work whether or not the user exists; in a thread, like hashing."""
    stored = user.password_hash if user else _DUMMY
    try:
        return await asyncio.to_thread(HASHER.verify, stored, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


_DUMMY = HASHER.hash(secrets.token_urlsafe(16))


async def create_token(
    user: User, name: str, expires_at: dt.datetime | None
) -> tuple[ApiToken, str]:
    """A new token and its secret, which is shown once and never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = await ApiToken.create(
        id=uuid.uuid4(),
        user_id=user.id,
        name=name,
        prefix=secret[:12],
        digest=digest(secret),
        expires_at=expires_at,
    )
    return token, secret


# Identities this process checked in the last RECALL_SECONDS: a burst of requests with one
# token or session costs one SELECT. Any change to users, tokens or sessions made here forgets
# them all (`forget`); one made by another process is seen within RECALL_SECONDS.
RECALL_SECONDS = 2.0
RECALL_MAX = 10_000
_recent: dict[str, tuple[float, object]] = {}


def _recall(key: str) -> object | None:
    found = _recent.get(key)
    if found is None or found[0] < time.monotonic():
        return None
    return found[1]


def _remember(key: str, value: object) -> None:
    if len(_recent) >= RECALL_MAX:
        _recent.clear()
    _recent[key] = (time.monotonic() + RECALL_SECONDS, value)


def forget() -> None:
    """Users, tokens or sessions changed: check every identity afresh."""
    _recent.clear()


async def user_for_token(secret: str) -> tuple[User, ApiToken] | None:
    """The token's user: one joined SELECT (then recalled for RECALL_SECONDS);
    `last_used_at` is written at most once a minute, so readers do not queue behind SQLite's
    single writer."""
    key = "token:" + digest(secret)
    recalled = _recall(key)
    if isinstance(recalled, ApiToken):
        if recalled.expires_at and recalled.expires_at < now():
            return None
        return recalled.user, recalled
    token = await ApiToken.filter(digest=key[6:]).select_related("user").first()
    moment = now()
    if token is None or (token.expires_at and token.expires_at < moment):
        return None
    if token.user.disabled:
        return None
    if token.last_used_at is None or token.last_used_at + TOUCH_EVERY < moment:
        await ApiToken.filter(id=token.id).update(last_used_at=moment)
    _remember(key, token)
    return token.user, token


async def start_session(user: User) -> tuple[str, str]:
    """A new session (new id at every login); returns (cookie value, CSRF token)."""
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await WebSession.create(digest=digest(session_id), user_id=user.id, csrf=csrf, seen_at=now())
    return session_id, csrf


async def user_for_session(session_id: str) -> tuple[User, WebSession] | None:
    key = "session:" + digest(session_id)
    recalled = _recall(key)
    if isinstance(recalled, WebSession):
        return recalled.user, recalled
    session = await WebSession.filter(digest=key[8:]).select_related("user").first()
    if session is None:
        return None
    moment = now()
    expired = session.seen_at + SESSION_IDLE < moment or session.created_at + SESSION_MAX < moment
    if expired or session.user.disabled:
        await session.delete()
        return None
    if session.seen_at + TOUCH_EVERY < moment:
        await WebSession.filter(digest=session.digest).update(seen_at=moment)
    _remember(key, session)
    return session.user, session


async def end_session(session_id: str) -> None:
    forget()
    await WebSession.filter(digest=digest(session_id)).delete()


async def end_sessions(user_id: int) -> None:
    """Sign the user out everywhere (password change, disabled)."""
    forget()
    await WebSession.filter(user_id=user_id).delete()


class Throttle:
    """Failed-login counters in Redis, per account and per client address, that expire: no
    permanent lockout an attacker could use against a user."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def retry_after(self, username: str, client: str) -> int:
        """Seconds to wait before trying again, or 0."""
        try:
            keys = [f"capstan:login:user:{username}", f"capstan:login:client:{client}"]
            counts = await self.redis.mget(keys)
            limits = (ACCOUNT_FAILURES, CLIENT_FAILURES)
            for key, count, limit in zip(keys, counts, limits, strict=True):
                if count is not None and int(count) >= limit:
                    return max(int(await self.redis.ttl(key)), 1)
        except RedisError:
            return 0
        return 0

    async def failed(self, username: str, client: str) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in (f"capstan:login:user:{username}", f"capstan:login:client:{client}"):
                    # A fixed window from the first failure (EXPIRE NX needs Redis 7).
                    pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)
                    pipe.incr(key)
                await pipe.execute()
        except RedisError:
            pass

    async def succeeded(self, username: str) -> None:
        with contextlib.suppress(RedisError):
            await self.redis.delete(f"capstan:login:user:{username}")


async def ensure_admin(data_dir: Path) -> str | None:
    """On a first start with no users, create `admin` with a random password, written to
    `DATA_DIR/initial-admin-password` (0600); return the password, or None. Later, remove
    that file once it no longer signs in."""
    if await User.exists():
        await retire_initial_password(data_dir)
        return None
    password = secrets.token_urlsafe(18)
    password_hash = await asyncio.to_thread(HASHER.hash, password)
    await User.create(username="admin", password_hash=password_hash, role="admin")
    path = data_dir / INITIAL_PASSWORD
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


async def retire_initial_password(data_dir: Path) -> bool:
    """Remove `DATA_DIR/initial-admin-password` once it no longer signs `admin` in (the
    password was changed, or the user is gone); True when it was removed."""
    path = data_dir / INITIAL_PASSWORD
    try:
        password = path.read_text().strip()
    except FileNotFoundError:
        return False
    admin = await User.get_or_none(username="admin")
    if admin is not None and await verify_password(admin, password):
        return False
    path.unlink(missing_ok=True)
    return True
