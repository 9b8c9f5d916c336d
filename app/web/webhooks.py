"""Webhook endpoints (`/hooks/{provider}/{project}`) and the record of deliveries."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.accounts import audit
from app.domain.status import Outcome
from app.engine import deliveries
from app.errors import AppError, BadRequest, NotFound
from app.forges.providers import PROVIDERS, Provider
from app.forges.push import ANSWERED, BadPayload
from app.keyring.vault import VaultError
from app.models import Delivery
from app.web.context import actor, int_param, runtime
from app.web.guard import actor_of, client_address
from app.web.lookup import find_project
from app.web.schemas import delivery_json, deployment_json


class InvalidSignature(AppError):
    status = 401
    code = "invalid_signature"


async def github_hook(request: Request) -> Response:
    """Receive a GitHub delivery (X-Hub-Signature-256)."""
    return await _receive(request, PROVIDERS["github"])


async def gitlab_hook(request: Request) -> Response:
    """Receive a GitLab delivery (X-Gitlab-Token)."""
    return await _receive(request, PROVIDERS["gitlab"])


async def gitea_hook(request: Request) -> Response:
    """Receive a Gitea or Forgejo delivery (X-Gitea-Signature)."""
    return await _receive(request, PROVIDERS["gitea"])


async def _receive(request: Request, provider: Provider) -> Response:
    project = await find_project(request)
    body = await request.body()  # app.web.limits stops it at 25 MiB with a 413
    try:
        secret = runtime(request).vault.decrypt(project.webhook_secret, f"webhook:{project.id}")
    except VaultError:
        raise InvalidSignature("the project has no usable webhook secret") from None
    if not provider.verify(request.headers, body, secret):
        raise InvalidSignature("missing or wrong signature")
    try:
        push = provider.parse(request.headers, body)
    except BadPayload as exc:
        envelope = provider.envelope(request.headers, body)
        await deliveries.record_unreadable(project, envelope, len(body), str(exc))
        raise BadRequest(str(exc), code="bad_payload") from None
    engine = runtime(request).engine
    receipt = await deliveries.receive(engine, project, push, len(body), client_address(request))
    return _answer(receipt)


def _answer(receipt: deliveries.Receipt) -> Response:
    """The forge's answer: 200 for a duplicate or a ping, else the outcome's status."""
    if receipt.duplicate:
        return JSONResponse({"duplicate": True, "deployment": receipt.deployment})
    if receipt.outcome is Outcome.DEPLOYED:
        body: dict[str, object] = {"deployment": receipt.deployment}
    elif receipt.outcome is Outcome.PING:
        body = {"ok": True}
    else:
        body = {"ignored": receipt.reason}
    return JSONResponse(body, status_code=ANSWERED[receipt.outcome])


async def list_deliveries(request: Request) -> Response:
    """A project's webhook deliveries, newest first (`limit`)."""
    project = await find_project(request)
    limit = int_param(request, "limit", 20, 1, 100)
    rows = await Delivery.filter(project_id=project.id).order_by("-received_at").limit(limit)
    return JSONResponse({"deliveries": [delivery_json(row) for row in rows]})


async def replay_delivery(request: Request) -> Response:
    """Deploy a recorded push again (a new deployment)."""
    project = await find_project(request)
    try:
        delivery_id = uuid.UUID(request.path_params["delivery"])
    except ValueError:
        raise NotFound("no such delivery", code="delivery_not_found") from None
    delivery = await Delivery.get_or_none(id=delivery_id, project_id=project.id)
    if delivery is None:
        raise NotFound("no such delivery", code="delivery_not_found")
    dep = await deliveries.replay(runtime(request).engine, project, delivery, actor(request))
    await audit.record(actor_of(request), "delivery.replay", project=project.name,
                       target=str(dep.id), details={"delivery": delivery.delivery_id})  # fmt: skip
    return JSONResponse(deployment_json(dep, project.name), status_code=202)
