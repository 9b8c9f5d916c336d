"""A project's SSH targets over the API: list, add (with a key pair of their own), change,
remove, rekey, and a connection check.

The private half of a target's key never leaves the server: the API shows the public half
(for the host's `authorized_keys`) and its fingerprint. Host keys are the project's pins
(`app.models.HostKey`, accepted through the host-keys routes), as for git remotes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from typing import Any

import asyncssh
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise.exceptions import IntegrityError

from app.domain.targets import TARGET_NAME, validate_target
from app.engine.targets import connect
from app.errors import Conflict, NotFound
from app.keyring import ssh
from app.keyring.vault import Vault, VaultError
from app.models import Deployment, Project, Target
from app.web.context import json_body, record, runtime
from app.web.lookup import find_project
from app.web.schemas import rfc3339

CHECK_TIMEOUT = 60.0  # the host-key scan, the connection and `true`, together
CHECK_TTL = 7 * 86400  # how long the last check's result is shown


def target_json(target: Target) -> dict[str, Any]:
    """A target as the API shows it: never its private key."""
    return {
        "name": target.name,
        "host": target.host,
        "port": target.port,
        "user": target.user,
        "path": target.path,
        "labels": target.labels,
        "public_key": target.key_public,
        "fingerprint": ssh.fingerprint(target.key_public),
        "current_release": target.current_release,
        "health": target.health,
        "created_at": rfc3339(target.created_at),
        "updated_at": rfc3339(target.updated_at),
    }


async def find_target(request: Request) -> tuple[Target, Project]:
    project = await find_project(request)
    name = request.path_params["target"]
    found = None
    if TARGET_NAME.fullmatch(name):  # a name no target can have is not looked up
        found = await Target.get_or_none(project_id=project.id, name=name)
    if found is None:
        raise NotFound(f"project {project.name!r} has no target {name!r}", code="target_not_found")
    return found, project


async def _not_deploying(project: Project) -> None:
    """A running deployment has read the targets it ships to: they do not change under it."""
    if await Deployment.filter(project_id=project.id, active_slot__isnull=False).exists():
        raise Conflict(
            "a deployment of the project is in progress; change its targets once it ends",
            code="deployment_active",
        )


def _key_pair(vault: Vault, project: Project, name: str, target_id: uuid.UUID) -> dict[str, str]:
    pair = ssh.generate(f"capstan:{project.name}/{name}")
    sealed = vault.encrypt(pair.private, ssh.target_key_purpose(target_id))
    return {"key": sealed, "key_public": pair.public}


async def list_targets(request: Request) -> Response:
    """A project's targets, by name."""
    project = await find_project(request)
    targets = await Target.filter(project_id=project.id).order_by("name")
    return JSONResponse({"targets": [target_json(t) for t in targets]})


async def create_target(request: Request) -> Response:
    """Add a target; Capstan makes its ed25519 key pair (the public half is in the answer, for
    the host's `authorized_keys`)."""
    project = await find_project(request)
    data = validate_target(await json_body(request), create=True)
    await _not_deploying(project)
    target_id = uuid.uuid4()
    keys = _key_pair(runtime(request).vault, project, data["name"], target_id)
    try:
        fields: dict[str, Any] = {**keys, **data}
        target = await Target.create(id=target_id, project_id=project.id, **fields)
    except IntegrityError:
        raise Conflict(
            f"project {project.name!r} has a target {data['name']!r}", code="target_exists"
        ) from None
    shown = target_json(target)
    await record(request, "target.create", project.name, target=target.name,
                 details={"after": shown})  # fmt: skip
    return JSONResponse(shown, status_code=201)


async def get_target(request: Request) -> Response:
    """Show a target."""
    target, _ = await find_target(request)
    return JSONResponse(target_json(target))


async def update_target(request: Request) -> Response:
    """Change a target's host, port, user, path or labels (not its name)."""
    body = await json_body(request)  # a malformed body is a 400 whatever the path names
    target, project = await find_target(request)
    changes = validate_target(body, create=False)
    changes = {k: v for k, v in changes.items() if getattr(target, k) != v}
    if changes:
        await _not_deploying(project)
        before = target_json(target)
        target.update_from_dict(changes)
        await target.save()
        await _forget_check(request, target)
        details = {"before": before, "after": target_json(target)}
        await record(request, "target.update", project.name, target=target.name, details=details)
    return JSONResponse(target_json(target))


async def delete_target(request: Request) -> Response:
    """Remove a target (Capstan forgets it and its key; nothing on the host is touched)."""
    target, project = await find_target(request)
    await _not_deploying(project)
    await target.delete()
    await record(request, "target.delete", project.name, target=target.name)
    return Response(status_code=204)


async def rekey_target(request: Request) -> Response:
    """Give a target a new key pair; the old one stops working here at once (put the new
    public key in the host's `authorized_keys`, then remove the old one there)."""
    target, project = await find_target(request)
    await _not_deploying(project)
    before = ssh.fingerprint(target.key_public)
    target.update_from_dict(_key_pair(runtime(request).vault, project, target.name, target.id))
    await target.save(update_fields=["key", "key_public", "updated_at"])
    await _forget_check(request, target)
    shown = target_json(target)
    details = {"before": before, "after": shown["fingerprint"]}
    await record(request, "target.rekey", project.name, target=target.name, details=details)
    return JSONResponse(shown, status_code=201)


async def check_target(request: Request) -> Response:
    """Connect to the target as its user with its key and run `true`: 200 `{"ok", "detail"}`,
    `ok` false with the reason (host key not trusted yet or changed, key refused,
    unreachable)."""
    target, project = await find_target(request)
    rt = runtime(request)
    ok, detail = await probe(rt.vault, target)
    result = {"ok": ok, "detail": detail, "at": rfc3339(dt.datetime.now(dt.UTC))}
    with contextlib.suppress(RedisError):  # only the page's memory of it is lost
        await rt.jobs.redis.set(_check_key(target), json.dumps(result), ex=CHECK_TTL)
    await record(request, "target.check", project.name, target=target.name,
                 details={"ok": ok, "detail": detail})  # fmt: skip
    return JSONResponse({"ok": ok, "detail": detail})


async def probe(vault: Vault, target: Target) -> tuple[bool, str]:
    """Whether Capstan can log in to `target` and run a command there, and what it met."""
    where = f"{target.user}@{target.host}:{target.port}"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            async with await connect(vault, target) as conn:
                done = await conn.run("true", check=False)
    except ssh.HostKeyError as exc:
        return False, str(exc)
    except asyncssh.PermissionDenied:
        return False, (
            f"{where} refused the target's key ({ssh.fingerprint(target.key_public)}): "
            f"add its public key to ~{target.user}/.ssh/authorized_keys on the host"
        )
    except asyncssh.HostKeyNotVerifiable as exc:
        return False, f"the host key of {target.host}:{target.port} is not trusted: {exc.reason}"
    except asyncssh.Error as exc:
        return False, f"SSH to {where} failed: {exc.reason}"
    except TimeoutError:
        return False, f"{where} did not answer within {CHECK_TIMEOUT:.0f} s"
    except OSError as exc:
        return False, f"cannot reach {target.host}:{target.port}: {exc.strerror or exc}"
    except VaultError:
        return False, "the target's key cannot be decrypted with this server's master key"
    except ValueError as exc:
        return False, f"SSH to {where} failed: {exc}"
    if done.exit_status != 0:
        return False, f"logged in to {where}, but `true` exited with {done.exit_status}"
    return True, f"logged in to {where} and ran a command"


def _check_key(target: Target) -> str:
    return f"capstan:target-check:{target.id}"


async def _forget_check(request: Request, target: Target) -> None:
    """A check of another address or key says nothing about this one."""
    with contextlib.suppress(RedisError):
        await runtime(request).jobs.redis.delete(_check_key(target))


async def last_checks(redis: Any, targets: list[Target]) -> dict[uuid.UUID, dict[str, Any]]:
    """The last connection check of each target that had one lately (`ok`, `detail`, `at`)."""
    if not targets:
        return {}
    try:
        raw = await redis.mget([_check_key(t) for t in targets])
    except RedisError:
        return {}
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for target, value in zip(targets, raw, strict=True):
        with contextlib.suppress(TypeError, ValueError):
            found[target.id] = json.loads(value)
    return found
