"""What every handler needs from its request: the runtime, the caller, the JSON body, query
integers, and the audit record of what it did.

The guard (`app.web.guard`) puts the caller on the request; handlers read it here, typed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from app.accounts import audit
from app.domain import text
from app.domain.access import Caller
from app.domain.status import TriggerType
from app.domain.text import only as only  # the handlers' check of a body's fields
from app.errors import BadRequest, Invalid
from app.runtime import Runtime
from app.web.guard import actor_of

MAX_DEPTH = 32
INTEGER = re.compile(r"-?[0-9]{1,19}")


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.state.runtime
    return rt


def caller(request: Request) -> Caller | None:
    """The authenticated caller (None on public routes)."""
    found: Caller | None = getattr(request.state, "caller", None)
    return found


async def json_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object: 400 if malformed or nested over 32 deep, 413 past 1 MiB
    (`app.web.limits` stops reading there), 422 if not an object or if a string in it (a key
    or a value) holds a NUL or an unpaired surrogate, which no database can store."""
    body = await request.body()
    if not body.strip():
        if optional:
            return {}
        raise BadRequest("a JSON body is required")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # ValueError includes UnicodeDecodeError
        raise BadRequest("the body is not valid JSON") from None
    if text.depth(data) > MAX_DEPTH:
        raise BadRequest(f"the body nests deeper than {MAX_DEPTH} levels")
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object", field="body")
    bad = text.unstorable(data)
    if bad is not None:
        raise Invalid(f"{bad} holds a NUL character or an unpaired surrogate", field=bad)
    return data


def actor(request: Request) -> str:
    """Who is acting: the signed-in user once there are users, else `anonymous`."""
    return str(getattr(request.state, "username", None) or "anonymous")


def trigger_of(request: Request) -> dict[str, Any]:
    """Who triggered, and through what: a page's form, the CLI, or the API."""
    agent = request.headers.get("user-agent", "")
    kind = TriggerType.CLI if agent.startswith("capstan-cli/") else TriggerType.API
    if getattr(request.state, "via_form", False):
        kind = TriggerType.UI
    return {"type": kind.value, "by": actor(request)}


async def record(request: Request, action: str, project: str | None, **fields: Any) -> None:
    """Audit what the request did, as its caller."""
    await audit.record(actor_of(request), action, project=project, **fields)


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not INTEGER.fullmatch(raw):  # int() also takes " 1", "1_0", Arabic digits
        raise Invalid(f"{name} must be an integer", field=name)
    value = int(raw)
    if not low <= value <= high:
        raise Invalid(f"{name} must be from {low} to {high}", field=name)
    return value
