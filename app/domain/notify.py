"""Notifications' vocabulary: provider kinds, the events people subscribe to, and what a
delivery became. Which fields each kind takes, and which of them are secret, is `FIELDS`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class ProviderKind(enum.StrEnum):
    SLACK = "slack"
    DISCORD = "discord"
    TEAMS = "teams"
    MATTERMOST = "mattermost"
    EMAIL = "email"
    TELEGRAM = "telegram"
    WEBHOOK = "webhook"  # signed JSON to any URL
    APPRISE = "apprise"  # an Apprise URL: 100+ services


class EventKind(enum.StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    AWAITING_APPROVAL = "awaiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ROLLED_BACK = "rolled_back"
    DELIVERY_REFUSED = "delivery_refused"  # a webhook delivery refused (`concurrency: reject`)
    OUTAGE = "outage"  # a worker or Redis is down (all-projects subscriptions only)
    RECOVERED = "recovered"


# Events about the installation, not a project: only all-projects subscriptions (admins) get them.
SYSTEM_EVENTS = frozenset({EventKind.OUTAGE, EventKind.RECOVERED})


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # queued, or waiting to be retried
    SENT = "sent"
    FAILED = "failed"  # retried until the attempts ran out (5xx, timeouts, unreachable)
    DROPPED = "dropped"  # the service refused it (4xx): retrying would not help


DELIVERY_DONE = frozenset({DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.DROPPED})
MAX_ATTEMPTS = 6  # the first try and five retries
UNHEALTHY_AFTER = 3  # failed or dropped deliveries in a row


@dataclass(frozen=True)
class Fields:
    """What a provider and its channels take: plain settings, and secret ones (sealed)."""

    provider: tuple[str, ...] = ()
    provider_secret: tuple[str, ...] = ()
    channel: tuple[str, ...] = ()
    channel_secret: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


FIELDS: dict[ProviderKind, Fields] = {
    ProviderKind.SLACK: Fields(channel_secret=("url",), required=("url",)),
    ProviderKind.DISCORD: Fields(channel_secret=("url",), required=("url",)),
    ProviderKind.TEAMS: Fields(channel_secret=("url",), required=("url",)),
    ProviderKind.MATTERMOST: Fields(channel_secret=("url",), required=("url",)),
    ProviderKind.WEBHOOK: Fields(provider_secret=("signing_secret",), channel_secret=("url",),
                                 required=("signing_secret", "url")),
    ProviderKind.TELEGRAM: Fields(provider=("api_url",), provider_secret=("bot_token",),
                                  channel=("chat_id",), required=("bot_token", "chat_id")),
    ProviderKind.EMAIL: Fields(
        provider=("host", "port", "security", "username", "sender", "ca_file"),
        provider_secret=("password",), channel=("to",), required=("host", "sender", "to"),
    ),
    ProviderKind.APPRISE: Fields(channel_secret=("url",), required=("url",)),
}  # fmt: skip

EMAIL_SECURITY = ("starttls", "tls", "none")


@dataclass(frozen=True)
class Event:
    """Something to tell people. `key` names it once: a retried emission makes no second
    delivery. Text fields are plain (each channel escapes them for its markup) and masked."""

    kind: EventKind
    key: str
    title: str
    project: str | None = None
    project_id: str | None = None
    url: str | None = None  # the deployment's page
    facts: dict[str, str] = field(default_factory=dict)  # shown as name: value
    lines: list[str] = field(default_factory=list)  # the last log lines of a failure

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "title": self.title, "project": self.project,
                "url": self.url, "facts": self.facts, "lines": self.lines}  # fmt: skip


OUTCOME_COLOURS = {
    EventKind.SUCCEEDED: "#2eb67d",
    EventKind.FAILED: "#e01e5a",
    EventKind.CANCELLED: "#8d8d8d",
    EventKind.ROLLED_BACK: "#ecb22e",
    EventKind.AWAITING_APPROVAL: "#ecb22e",
    EventKind.DELIVERY_REFUSED: "#e01e5a",
    EventKind.OUTAGE: "#e01e5a",
    EventKind.RECOVERED: "#2eb67d",
}
DEFAULT_COLOUR = "#1d4ed8"


def colour(kind: EventKind | str) -> str:
    return OUTCOME_COLOURS.get(EventKind(kind), DEFAULT_COLOUR)
