"""Notifications over the API: providers and channels (admins and managers), a test message
and the delivery log of a channel (subscriptions: `app.web.subscriptions`).

Secret fields (webhook URLs, tokens, passwords) go in and are sealed; only their names come
out, in responses and in the audit trail alike. Every outbound address is checked with the
SSRF guard when it is configured, unless CAPSTAN_NOTIFY_ALLOW_PRIVATE=1.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from app.domain.access import Permission, allows
from app.domain.notify import (
    UNHEALTHY_AFTER,
    DeliveryStatus,
    Event,
    EventKind,
    ProviderKind,
)
from app.errors import Conflict, Invalid, NotFound
from app.models import NotifyChannel, NotifyDelivery, NotifyProvider
from app.notify import config, guard
from app.web.context import actor, caller, int_param, json_body, only, record, runtime
from app.web.schemas import rfc3339

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
TEST_TITLE = "Test notification from Capstan"
# Where an email provider's host is looked up when it names no port: the port does not change
# the addresses a name resolves to, which is what the guard judges.
SMTP_PORT = 587


# Shapes


def provider_json(request: Request, provider: NotifyProvider) -> dict[str, Any]:
    return {
        "id": str(provider.id),
        "name": provider.name,
        "kind": provider.kind.value,
        "settings": provider.settings,
        "secrets": config.secret_names(provider, runtime(request).vault),
        "created_at": rfc3339(provider.created_at),
    }


def channel_json(request: Request, channel: NotifyChannel) -> dict[str, Any]:
    """A channel; its target (addresses, chat ids) only for those who manage notifications."""
    who = caller(request)
    manages = who is not None and allows(who, Permission.NOTIFY_MANAGE)
    return {
        "id": str(channel.id),
        "name": channel.name,
        "provider": channel.provider.name,
        "kind": channel.provider.kind.value,
        "target": channel.target if manages else None,
        "secrets": config.secret_names(channel, runtime(request).vault),
        "timeout": channel.timeout,
        "healthy": channel.failures < UNHEALTHY_AFTER,
        "failures": channel.failures,
        "last_error": channel.last_error,
        "created_at": rfc3339(channel.created_at),
    }


def delivery_json(delivery: NotifyDelivery) -> dict[str, Any]:
    return {
        "id": str(delivery.id),
        "event": delivery.event,
        "project": delivery.project,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "response_code": delivery.response_code,
        "reason": delivery.reason,
        "created_at": rfc3339(delivery.created_at),
        "finished_at": rfc3339(delivery.finished_at),
    }


# Lookups: a name no row can have is not looked up (a NUL in it would be a database error).


async def _provider_named(name: object) -> NotifyProvider | None:
    if not isinstance(name, str) or not config.NAME.fullmatch(name):
        return None
    return await NotifyProvider.get_or_none(name=name)


async def channel_named(name: object) -> NotifyChannel | None:
    if not isinstance(name, str) or not config.NAME.fullmatch(name):
        return None
    return await NotifyChannel.filter(name=name).select_related("provider").first()


async def find_provider(request: Request) -> NotifyProvider:
    name = request.path_params["provider"]
    provider = await _provider_named(name)
    if provider is None:
        raise NotFound(f"no provider {name!r}", code="provider_not_found")
    return provider


async def find_channel(request: Request) -> NotifyChannel:
    name = request.path_params["channel"]
    channel = await channel_named(name)
    if channel is None:
        raise NotFound(f"no channel {name!r}", code="channel_not_found")
    return channel


# Checks


def _fields_object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name, {})
    if not isinstance(value, dict):
        raise Invalid(f"{name} must be an object", field=name)
    return value


async def _reachable(request: Request, kind: ProviderKind, fields: dict[str, Any]) -> None:
    """Every outbound address in `fields` passes the SSRF guard (422 naming the field, with
    the guard's reason), unless the installation allows private addresses. An Apprise URL is
    checked either way for being one Apprise understands, and for the hosts it names."""
    allow_private = runtime(request).settings.notify_allow_private
    for name in ("url", "api_url", "host"):
        value = fields.get(name)
        if not value or (allow_private and kind is not ProviderKind.APPRISE):
            continue
        try:
            if kind is ProviderKind.APPRISE:
                await guard.check_apprise(value, allow_private)
            elif name == "host":
                await guard.check_host(value, fields.get("port") or SMTP_PORT, False)
            else:
                await guard.check_url(value, False)
        except guard.Refused as exc:
            raise Invalid(f"{name} is refused: {exc}", field=name) from None


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The names of the fields whose values differ: what the audit trail records."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


# Providers


async def list_providers(request: Request) -> Response:
    """Notification providers, with the names of their secret fields (never the values)."""
    providers = await NotifyProvider.all().order_by("name")
    return JSONResponse({"providers": [provider_json(request, p) for p in providers]})


async def create_provider(request: Request) -> Response:
    """Add a notification provider (`{"name", "kind", "settings"}`); secret settings are
    sealed and only their names are shown."""
    body = only(await json_body(request), "name", "kind", "settings")
    name = config.check_name(body.get("name"))
    kind = config.check_kind(body.get("kind"))
    plain, secret = config.provider_fields(kind, _fields_object(body, "settings"))
    await _reachable(request, kind, plain)
    provider = NotifyProvider(id=uuid.uuid4(), name=name, kind=kind, settings=plain,
                              created_by=actor(request))  # fmt: skip
    config.seal(runtime(request).vault, provider, secret)
    try:
        await provider.save()
    except IntegrityError:
        raise Conflict(f"provider {name!r} exists", code="provider_exists") from None
    await record(request, "notify.provider.create", None, target=name,
                 details={"kind": kind.value, "fields": sorted({**plain, **secret})})  # fmt: skip
    return JSONResponse(provider_json(request, provider), status_code=201)


async def update_provider(request: Request) -> Response:
    """Change a provider's settings: the fields given replace theirs, a field given as null
    is removed."""
    changes = _fields_object(only(await json_body(request), "settings"), "settings")
    provider = await find_provider(request)
    vault = runtime(request).vault
    before = {**provider.settings, **config.unseal(vault, provider)}
    plain, secret = config.provider_fields(provider.kind, {**before, **changes})
    await _reachable(request, provider.kind, plain)
    provider.settings = plain
    config.seal(vault, provider, secret)
    await provider.save(update_fields=["settings", "sealed", "updated_at"])
    changed = _changed(before, {**plain, **secret})
    if changed:
        await record(request, "notify.provider.update", None, target=provider.name,
                     details={"fields": changed})  # fmt: skip
    return JSONResponse(provider_json(request, provider))


async def delete_provider(request: Request) -> Response:
    """Delete a provider and its channels (and their subscriptions and deliveries)."""
    provider = await find_provider(request)
    channels = await NotifyChannel.filter(provider_id=provider.id).values_list("name", flat=True)
    await provider.delete()
    await record(request, "notify.provider.delete", None, target=provider.name,
                 details={"channels": sorted(map(str, channels))})  # fmt: skip
    return Response(status_code=204)


# Channels


async def list_channels(request: Request) -> Response:
    """Notification channels and their health (their targets only for those who manage
    notifications)."""
    channels = await NotifyChannel.all().select_related("provider").order_by("name")
    return JSONResponse({"channels": [channel_json(request, c) for c in channels]})


async def create_channel(request: Request) -> Response:
    """Add a channel under a provider (`{"name", "provider", "target", "timeout"}`)."""
    body = only(await json_body(request), "name", "provider", "target", "timeout")
    name = config.check_name(body.get("name"))
    provider = await _provider_named(body.get("provider"))
    if provider is None:
        raise Invalid("provider names no provider", field="provider")
    target, secret = config.channel_fields(provider.kind, _fields_object(body, "target"))
    timeout = config.check_timeout(body["timeout"]) if "timeout" in body else None
    await _reachable(request, provider.kind, secret)
    channel = NotifyChannel(id=uuid.uuid4(), name=name, provider=provider, target=target,
                            created_by=actor(request))  # fmt: skip
    if timeout is not None:
        channel.timeout = timeout
    config.seal(runtime(request).vault, channel, secret)
    try:
        await channel.save()
    except IntegrityError:
        raise Conflict(f"channel {name!r} exists", code="channel_exists") from None
    details = {"provider": provider.name, "fields": sorted({**target, **secret})}
    await record(request, "notify.channel.create", None, target=name, details=details)
    return JSONResponse(channel_json(request, channel), status_code=201)


async def update_channel(request: Request) -> Response:
    """Change a channel's `target` (the fields given replace its own, null removes one) or
    `timeout`."""
    body = only(await json_body(request), "target", "timeout")
    changes = _fields_object(body, "target")
    channel = await find_channel(request)
    vault = runtime(request).vault
    kind = channel.provider.kind
    before = {**channel.target, **config.unseal(vault, channel)}
    target, secret = config.channel_fields(kind, {**before, **changes})
    timeout = config.check_timeout(body["timeout"]) if "timeout" in body else channel.timeout
    await _reachable(request, kind, secret)
    changed = _changed({**before, "timeout": channel.timeout},
                       {**target, **secret, "timeout": timeout})  # fmt: skip
    channel.target, channel.timeout = target, timeout
    config.seal(vault, channel, secret)
    await channel.save(update_fields=["target", "sealed", "timeout"])
    if changed:
        await record(request, "notify.channel.update", None, target=channel.name,
                     details={"fields": changed})  # fmt: skip
    return JSONResponse(channel_json(request, channel))


async def delete_channel(request: Request) -> Response:
    """Delete a channel, its subscriptions and its deliveries."""
    channel = await find_channel(request)
    await channel.delete()
    await record(request, "notify.channel.delete", None, target=channel.name)
    return Response(status_code=204)


async def send_test_message(request: Request) -> Response:
    """Send a test message to this channel alone; 202 with the delivery to follow."""
    channel = await find_channel(request)
    rt = runtime(request)
    who = actor(request)
    event = Event(kind=EventKind.SUCCEEDED, key=f"test:{uuid.uuid4()}", title=TEST_TITLE,
                  url=rt.settings.base_url, facts={"channel": channel.name, "by": who})  # fmt: skip
    delivery = await NotifyDelivery.create(
        channel_id=channel.id,
        key=event.key,
        event=event.kind.value,
        project=None,
        message=event.as_json(),
        status=DeliveryStatus.PENDING,
    )
    await rt.jobs.send(delivery)  # if Redis is down, the reconciler asks again
    await record(request, "notify.channel.test", None, target=channel.name,
                 details={"delivery": str(delivery.id)})  # fmt: skip
    return JSONResponse({"delivery": str(delivery.id)}, status_code=202)


async def list_deliveries(request: Request) -> Response:
    """A channel's deliveries, newest first (`limit`, `before` a delivery id)."""
    channel = await find_channel(request)
    limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    query = NotifyDelivery.filter(channel_id=channel.id)
    if "before" in request.query_params:
        query = query.filter(await _older_than(channel, request.query_params["before"]))
    rows = await query.order_by("-created_at", "-id").limit(limit)
    return JSONResponse({"deliveries": [delivery_json(d) for d in rows]})


async def _older_than(channel: NotifyChannel, before: str) -> Q:
    """Deliveries after `before` (a delivery of `channel`) in newest-first order."""
    try:
        before_id = uuid.UUID(before)
    except ValueError:
        raise Invalid("before must be a delivery id", field="before") from None
    found = await NotifyDelivery.get_or_none(id=before_id, channel_id=channel.id)
    if found is None:
        raise Invalid("before names no delivery of this channel", field="before")
    at: dt.datetime = found.created_at
    return Q(created_at__lt=at) | Q(created_at=at, id__lt=before_id)
