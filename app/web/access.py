"""How a project reaches a private repository over SSH: its deploy key and the host keys it pins.

The deploy key's private half never leaves the server (sealed in the database, unsealed only
while git runs); the API shows the public line and its fingerprint. A host key is trusted once
someone accepts it, or gives it as a known_hosts line; a scan records what a host offers now,
untrusted, so its fingerprint can be compared before anyone accepts it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.domain import hosts
from app.errors import Invalid, NotFound
from app.keyring import ssh
from app.models import HostKey, Project
from app.web.context import actor, json_body, only, record, runtime
from app.web.lookup import find_project
from app.web.schemas import rfc3339

MAX_KNOWN_HOSTS = 64 * 1024
MAX_ENTRIES = 100
MAX_ID = 2**63 - 1


def deploy_key_json(project: Project) -> dict[str, str]:
    assert project.deploy_key_public is not None
    public = project.deploy_key_public
    return {"public_key": public, "fingerprint": ssh.fingerprint(public)}


def host_key_json(pin: HostKey) -> dict[str, Any]:
    return {
        "id": pin.id,
        "host": pin.host,
        "port": pin.port,
        "key": pin.key,
        "fingerprint": pin.fingerprint,
        "trusted": pin.trusted,
        "seen_at": rfc3339(pin.seen_at),
        "accepted_by": pin.accepted_by,
        "accepted_at": rfc3339(pin.accepted_at),
    }


# Deploy key


async def get_deploy_key(request: Request) -> Response:
    """The project's deploy key: its public line (for the forge) and fingerprint."""
    project = await find_project(request)
    if project.deploy_key_public is None:
        raise NotFound("the project has no deploy key", code="no_deploy_key")
    return JSONResponse(deploy_key_json(project))


async def generate_deploy_key(request: Request) -> Response:
    """Make a new ed25519 deploy key, replacing any; the answer is its public line.

    Add the public line to the repository as a read-only deploy key: the old key (if any)
    stops working for Capstan at once."""
    project = await find_project(request)
    only(await json_body(request, optional=True))
    pair = ssh.generate(f"capstan:{project.name}")
    replaced = project.deploy_key_public
    vault = runtime(request).vault
    project.deploy_key = vault.encrypt(pair.private, ssh.deploy_key_purpose(project.id))
    project.deploy_key_public = pair.public
    await project.save(update_fields=["deploy_key", "deploy_key_public", "updated_at"])
    details = {"fingerprint": ssh.fingerprint(pair.public)}
    if replaced:
        details["replaced"] = ssh.fingerprint(replaced)
    action = "deploy_key.replace" if replaced else "deploy_key.generate"
    await record(request, action, project.name, details=details)
    return JSONResponse(deploy_key_json(project), status_code=201)


async def delete_deploy_key(request: Request) -> Response:
    """Remove the project's deploy key (git over SSH then has no key to offer)."""
    project = await find_project(request)
    if project.deploy_key_public is None:
        raise NotFound("the project has no deploy key", code="no_deploy_key")
    details = {"fingerprint": ssh.fingerprint(project.deploy_key_public)}
    await Project.filter(id=project.id).update(
        deploy_key=None, deploy_key_public=None, updated_at=dt.datetime.now(dt.UTC)
    )
    await record(request, "deploy_key.delete", project.name, details=details)
    return Response(status_code=204)


# Host keys


async def list_host_keys(request: Request) -> Response:
    """The host keys the project has met or been given, trusted or not."""
    project = await find_project(request)
    pins = await HostKey.filter(project_id=project.id).order_by("host", "port", "id")
    return JSONResponse({"host_keys": [host_key_json(pin) for pin in pins]})


async def add_host_keys(request: Request) -> Response:
    """Trust the keys of `known_hosts` lines, or scan `host` (`port`, default 22) now.

    `{"known_hosts": "..."}`: every entry is trusted at once, as given by you. `{"host": ...}`:
    the key the host offers now is recorded untrusted: compare its fingerprint with the one
    the host's owner publishes, then accept it."""
    project = await find_project(request)
    body = only(await json_body(request), "known_hosts", "host", "port")
    if ("known_hosts" in body) == ("host" in body):
        raise Invalid("give either known_hosts, or host (and port) to scan", field="body")
    if "known_hosts" in body:
        pins = await _trust(request, project, _known_hosts(body["known_hosts"]))
    else:
        pins = [await _scan(request, project, body)]
    return JSONResponse({"host_keys": [host_key_json(pin) for pin in pins]}, status_code=201)


def _known_hosts(text: object) -> list[ssh.Pin]:
    if not isinstance(text, str) or len(text) > MAX_KNOWN_HOSTS:
        raise Invalid(f"known_hosts must be text of at most {MAX_KNOWN_HOSTS} characters",
                      field="known_hosts")  # fmt: skip
    try:
        pins = ssh.parse_known_hosts(text)
    except ValueError as exc:
        raise Invalid(str(exc), field="known_hosts") from None
    if len(pins) > MAX_ENTRIES:
        raise Invalid(f"at most {MAX_ENTRIES} entries at once", field="known_hosts")
    return pins


async def _trust(request: Request, project: Project, given: list[ssh.Pin]) -> list[HostKey]:
    now, who = dt.datetime.now(dt.UTC), actor(request)
    pins = []
    for pin in dict.fromkeys(given):
        row = await ssh.record(project.id, pin.host, pin.port, pin.key)
        if not row.trusted:
            row.trusted, row.accepted_by, row.accepted_at = True, who, now
            await row.save(update_fields=["trusted", "accepted_by", "accepted_at"])
        pins.append(row)
    added = [f"{pin.host}:{pin.port} {pin.fingerprint}" for pin in pins]
    await record(request, "host_key.add", project.name, details={"trusted": added})
    return pins


async def _scan(request: Request, project: Project, body: dict[str, Any]) -> HostKey:
    host, port = hosts.validate(body["host"]), body.get("port", 22)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise Invalid("port must be an integer from 1 to 65535", field="port")
    try:
        key = await ssh.scan(host, port)
    except ssh.HostKeyError as exc:
        raise Invalid(str(exc), field="host", code="host_unreachable") from None
    row = await ssh.record(project.id, host, port, key)
    details = {"fingerprint": row.fingerprint, "trusted": row.trusted}
    await record(request, "host_key.scan", project.name, target=f"{host}:{port}", details=details)
    return row


async def _host_key(request: Request, project: Project) -> HostKey:
    raw = request.path_params["host_key"]
    pin = None
    if raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID:
        pin = await HostKey.get_or_none(id=int(raw), project_id=project.id)
    if pin is None:
        raise NotFound("no such host key", code="host_key_not_found")
    return pin


async def accept_host_key(request: Request) -> Response:
    """Trust a recorded host key. It replaces every other trusted key of that host and port,
    of any type (a host whose key changed was rebuilt, or is not the host it was): those stop
    being trusted. Give the host's other keys as known_hosts lines to trust them too."""
    project = await find_project(request)
    pin = await _host_key(request, project)
    pinned = HostKey.filter(project_id=project.id, host=pin.host, port=pin.port, trusted=True)
    replaced = await pinned.exclude(id=pin.id)
    for old in replaced:
        old.trusted = False
        await old.save(update_fields=["trusted"])
    pin.trusted, pin.accepted_by, pin.accepted_at = True, actor(request), dt.datetime.now(dt.UTC)
    await pin.save(update_fields=["trusted", "accepted_by", "accepted_at"])
    details: dict[str, Any] = {"fingerprint": pin.fingerprint}
    if replaced:
        details["replaced"] = [old.fingerprint for old in replaced]
    await record(request, "host_key.accept", project.name, target=f"{pin.host}:{pin.port}",
                 details=details)  # fmt: skip
    return JSONResponse(host_key_json(pin))


async def delete_host_key(request: Request) -> Response:
    """Forget a host key (trusted or not)."""
    project = await find_project(request)
    pin = await _host_key(request, project)
    await pin.delete()
    await record(request, "host_key.delete", project.name, target=f"{pin.host}:{pin.port}",
                 details={"fingerprint": pin.fingerprint, "trusted": pin.trusted})  # fmt: skip
    return Response(status_code=204)
