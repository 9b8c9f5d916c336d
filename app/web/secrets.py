"""Project secrets over the API: names and times out, values only in."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.accounts import audit
from app.errors import Invalid, NotFound
from app.keyring import secretstore
from app.models import Secret
from app.web.context import actor, json_body, runtime
from app.web.guard import actor_of
from app.web.lookup import find_project
from app.web.schemas import rfc3339

SECRET_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
MIN_MASKABLE = 4
MIN_ADVISED = 8
MAX_VALUE = 64 * 1024


def _name(request: Request) -> str:
    name: str = request.path_params["name"]
    if not SECRET_NAME.fullmatch(name):
        raise Invalid("secret names match ^[A-Z_][A-Z0-9_]{0,127}$", field="name")
    return name


async def list_secrets(request: Request) -> Response:
    """A project's secret names, never their values."""
    project = await find_project(request)
    rows = await Secret.filter(project_id=project.id).order_by("name")
    secrets = [
        {"name": s.name, "updated_at": rfc3339(s.updated_at), "updated_by": s.updated_by}
        for s in rows
    ]
    return JSONResponse({"secrets": secrets})


async def put_secret(request: Request) -> Response:
    """Set a secret (`{"value": "..."}`); values under 4 characters cannot be masked."""
    project = await find_project(request)
    name = _name(request)
    value = (await json_body(request)).get("value")
    if not isinstance(value, str) or len(value) > MAX_VALUE:
        raise Invalid(f"value must be a string of at most {MAX_VALUE} characters", field="value")
    if len(value) < MIN_MASKABLE:
        raise Invalid(
            f"values shorter than {MIN_MASKABLE} characters cannot be masked in logs",
            field="value",
        )
    await secretstore.put(runtime(request).vault, project, name, value, actor(request))
    await audit.record(actor_of(request), "secret.set", project=project.name, target=name)
    if len(value) < MIN_ADVISED:
        warning = f"values shorter than {MIN_ADVISED} characters mask poorly in logs"
        return JSONResponse({"name": name, "warning": warning})
    return Response(status_code=204)


async def delete_secret(request: Request) -> Response:
    """Delete a secret."""
    project = await find_project(request)
    name = _name(request)
    if not await secretstore.delete(project, name):
        raise NotFound("no such secret", code="secret_not_found")
    await audit.record(actor_of(request), "secret.delete", project=project.name, target=name)
    return Response(status_code=204)
