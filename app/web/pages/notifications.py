"""Notification pages: providers and their channels with health and delivery logs (for those
who manage notifications), every subscription (admins), and a project's subscriptions.

The pages read what the API routes read (`app.web.notifications` shapes the rows); their forms
post to those routes (`app.web.forms`). The bridge does not nest fields, so a provider's
settings and a channel's target are one JSON field, prefilled with the fields of its kind.
Secret fields are shown by name only, and never put back into a form after an error.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from app.domain.access import Permission
from app.domain.notify import FIELDS, SYSTEM_EVENTS, DeliveryStatus, EventKind, ProviderKind
from app.models import NotifyChannel, NotifyDelivery, NotifyProvider, NotifySubscription
from app.web.context import runtime
from app.web.lookup import find_project
from app.web.notifications import channel_json, delivery_json, find_channel, provider_json
from app.web.pages import Allowed, form_failure, fragment, page, render
from app.web.schemas import project_json
from app.web.subscriptions import subscription_json

DELIVERIES_SHOWN = 50
TEST_KEY = "test:"  # the key of a test message's delivery (`send_test_message`)
KINDS = {
    ProviderKind.SLACK: "Slack",
    ProviderKind.DISCORD: "Discord",
    ProviderKind.TEAMS: "Microsoft Teams",
    ProviderKind.MATTERMOST: "Mattermost",
    ProviderKind.EMAIL: "Email (SMTP)",
    ProviderKind.TELEGRAM: "Telegram",
    ProviderKind.WEBHOOK: "Webhook (signed JSON)",
    ProviderKind.APPRISE: "Apprise",
}
# What a field holds, for the hints beside the JSON fields; a field not here is text.
FIELD_HINTS = {
    "url": "the URL to post to (secret: it carries the token)",
    "signing_secret": "signs each request's body (HMAC-SHA256, X-Capstan-Signature)",
    "bot_token": "the bot's token from @BotFather",
    "api_url": "null for https://api.telegram.org",
    "chat_id": "the chat's id, e.g. -1001234567890",
    "host": "the SMTP server",
    "port": "a number; null for 587",
    "security": "starttls, tls or none",
    "username": "null to send without signing in",
    "password": "null to send without signing in",
    "sender": "the From address",
    "to": "a list of 1 to 50 addresses",
}
URL_EXAMPLES = {
    ProviderKind.SLACK: "https://hooks.slack.com/services/…",
    ProviderKind.DISCORD: "https://discord.com/api/webhooks/…",
    ProviderKind.TEAMS: "the workflow's or incoming webhook's https:// URL",
    ProviderKind.MATTERMOST: "https://chat.example.com/hooks/…",
    ProviderKind.WEBHOOK: "https://ops.example.com/capstan",
    ProviderKind.APPRISE: "an Apprise URL: json://host/path, mailto://user:pass@host, …",
}
EXAMPLE_VALUES: dict[str, Any] = {
    "host": "smtp.example.com",
    "port": 587,
    "security": "starttls",
    "sender": "capstan@example.com",
    "to": ["ops@example.com"],
}
EVENTS = {
    EventKind.QUEUED: "a deployment is queued",
    EventKind.STARTED: "a deployment starts running",
    EventKind.AWAITING_APPROVAL: "a deployment waits at a gate (naming who may approve)",
    EventKind.SUCCEEDED: "a deployment completed",
    EventKind.FAILED: "a deployment failed (its stage and last log lines, masked)",
    EventKind.CANCELLED: "a deployment was cancelled",
    EventKind.ROLLED_BACK: "a release was rolled back",
    EventKind.DELIVERY_REFUSED: "a webhook push was refused (concurrency: reject)",
    EventKind.OUTAGE: "a worker or Redis is down",
    EventKind.RECOVERED: "workers and Redis are back",
}
PROJECT_EVENTS = {k: v for k, v in EVENTS.items() if k not in SYSTEM_EVENTS}
DEFAULT_EVENTS = [EventKind.SUCCEEDED, EventKind.FAILED]


def example(names: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Any]:
    """A JSON object of `names` to fill in: required ones blank, optional ones null."""
    return {n: EXAMPLE_VALUES.get(n, "" if n in required else None) for n in names}


def provider_fields(kind: ProviderKind) -> tuple[str, ...]:
    spec = FIELDS[kind]
    return (*spec.provider, *spec.provider_secret)


def channel_fields(kind: ProviderKind) -> tuple[str, ...]:
    spec = FIELDS[kind]
    return (*spec.channel, *spec.channel_secret)


def json_text(
    kind: ProviderKind, names: tuple[str, ...], secret: tuple[str, ...], sent: object
) -> str:
    """The JSON field's text: what a failed form sent, its secret values blanked, or else the
    kind's example."""
    if sent is None:
        return json.dumps(example(names, FIELDS[kind].required), indent=2)
    if isinstance(sent, dict):
        sent = {k: ("" if k in secret and v else v) for k, v in sent.items()}
    return json.dumps(sent, indent=2)


def _kind_of(value: str | None) -> ProviderKind | None:
    return ProviderKind(value) if value in tuple(ProviderKind) else None


# The notifications page


async def notifications(request: Request) -> Response:
    """Providers and, under each, its channels; a form per provider kind (`?new=<kind>`);
    every subscription, for admins."""
    flash, failure = await form_failure(request)
    providers = await NotifyProvider.all().order_by("name")
    channels = await NotifyChannel.all().select_related("provider").order_by("name")
    shown = []
    for provider in providers:
        mine = [channel_json(request, c) for c in channels if c.provider_id == provider.id]
        sent = _sent(failure, f"channel-new-{provider.name}", "target")
        target = json_text(provider.kind, channel_fields(provider.kind),
                           FIELDS[provider.kind].channel_secret, sent)  # fmt: skip
        shown.append({**provider_json(request, provider), "channels": mine, "target_text": target})
    new_kind = _kind_of(request.query_params.get("new"))
    context: dict[str, Any] = {
        "providers": shown,
        "kinds": KINDS,
        "new_kind": new_kind,
        "fields": FIELDS,
        "hints": FIELD_HINTS,
        "url_examples": URL_EXAMPLES,
        "flash": flash,
        "failure": failure,
    }
    if new_kind is not None:
        sent = _sent(failure, "provider-new", "settings")
        secret = FIELDS[new_kind].provider_secret
        context["settings_text"] = json_text(new_kind, provider_fields(new_kind), secret, sent)
    context.update(await _every_subscription(request, channels, failure))
    return await render(request, "notifications.html", context)


def _failed(failure: dict[str, Any] | None, form: str) -> bool:
    return bool(failure and failure["form"] == form)


def _sent(failure: dict[str, Any] | None, form: str, field: str) -> object:
    """What the failed form `form` sent as `field` (None if that form did not fail)."""
    if failure is None or failure["form"] != form:
        return None
    return failure["submitted"].get(field)


async def _every_subscription(
    request: Request, channels: list[NotifyChannel], failure: dict[str, Any] | None
) -> dict[str, Any]:
    """Every subscription and the all-projects subscribe form, for those who may list them."""
    if not Allowed(request.state.caller)("GET /api/v1/notifications/subscriptions"):
        return {}
    rows = await NotifySubscription.all().select_related("channel", "project")
    rows.sort(key=lambda s: (s.project is not None, s.project.name if s.project else "",
                             s.channel.name))  # fmt: skip
    return {
        "subscriptions": [subscription_json(s) for s in rows],
        "subscribe": subscribe_form("/notifications", channels, EVENTS, failure),
    }


# Subscribing


def subscribe_form(
    here: str,
    channels: list[NotifyChannel],
    events: dict[EventKind, str],
    failure: dict[str, Any] | None,
) -> dict[str, Any]:
    """The subscribe form: the channels and events to choose from, and what is chosen (what
    a failed form sent, else the default events)."""
    channel, chosen = None, [e.value for e in DEFAULT_EVENTS]
    if _failed(failure, "subscribe"):
        channel = _sent(failure, "subscribe", "channel")
        sent = _sent(failure, "subscribe", "events")
        chosen = [str(e) for e in sent] if isinstance(sent, list) else []
    return {
        "here": here,
        "channels": [c.name for c in channels],
        "events": events,
        "channel": channel,
        "chosen": chosen,
        "back": f"{here}?form=subscribe#subscribe",
    }


# A channel and its deliveries


async def _deliveries(channel: NotifyChannel) -> dict[str, Any]:
    rows = await NotifyDelivery.filter(channel_id=channel.id).order_by("-created_at", "-id")
    shown = rows[:DELIVERIES_SHOWN]
    return {
        "deliveries": [{**delivery_json(d), "test": d.key.startswith(TEST_KEY)} for d in shown],
        "pending": any(d.status == DeliveryStatus.PENDING for d in shown),
        "more": len(rows) > DELIVERIES_SHOWN,
    }


async def channel_page(request: Request) -> Response:
    """A channel: its provider, target, health, a test message, and its delivery log."""
    flash, failure = await form_failure(request)
    channel = await find_channel(request)
    context = {"channel": channel_json(request, channel), "flash": flash, "failure": failure,
               "channel_secret": FIELDS[channel.provider.kind].channel_secret}  # fmt: skip
    context.update(await _deliveries(channel))
    return await render(request, "_notify_channel.html", context)


async def delivery_log(request: Request) -> Response:
    """The delivery log alone, for htmx to poll while a delivery is pending."""
    channel = await find_channel(request)
    context = {"channel": channel_json(request, channel), "flash": {}}
    context.update(await _deliveries(channel))
    return await render(request, "_notify_log.html", context)


# A project's subscriptions


async def project_notifications(request: Request) -> Response:
    """The project's subscriptions; the subscribe form for those who may edit the project."""
    flash, failure = await form_failure(request)
    project = await find_project(request)
    rows = NotifySubscription.filter(project_id=project.id).select_related("channel", "project")
    channels = await NotifyChannel.all().select_related("provider").order_by("name")
    here = f"/projects/{project.name}/notifications"
    health = {c.name: channel_json(request, c) for c in channels}
    context = {
        "project": project,
        "tab": "notifications",
        "subscriptions": [subscription_json(s) for s in await rows.order_by("channel__name")],
        "health": health,
        "subscribe": subscribe_form(here, channels, PROJECT_EVENTS, failure),
        "shown": project_json(project, runtime(request).settings.base_url),
        "flash": flash,
        "failure": failure,
    }
    return await render(request, "project_notifications.html", context)


PAGES: list[BaseRoute] = [
    page("/notifications", notifications, Permission.NOTIFY_MANAGE),
    page("/notifications/channels/{channel}", channel_page, Permission.NOTIFY_MANAGE),
    fragment("/notifications/channels/{channel}/log", delivery_log, Permission.NOTIFY_MANAGE),
    page("/projects/{project}/notifications", project_notifications, Permission.PROJECT_VIEW),
]
