"""The engine's dependency bundle: what a runner needs from the process it runs in."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from app.domain.notify import Event, EventKind
from app.engine.sandbox import Sandbox
from app.keyring.vault import Vault
from app.metrics import Metrics
from app.models import Deployment, NotifyDelivery
from app.settings import Settings

Enqueue = Callable[[Deployment], Awaitable[object]]
Notify = Callable[[Deployment, EventKind], Awaitable[object]]


@dataclasses.dataclass
class Engine:
    """What a runner needs from its process: settings, identity, Redis, the queue (to advance a
    deployment, to report its status to the forge it came from and to the people subscribed)
    and metrics."""

    settings: Settings
    holder: str
    redis: Redis
    enqueue: Enqueue
    report: Enqueue  # the commit status, and the notifications of the deployment's status
    notify: Notify  # the notifications of an event that is no status: started, at a gate
    resend: Callable[[NotifyDelivery], Awaitable[object]]  # a notification whose job was lost
    tell: Callable[[Event], Awaitable[object]]  # the notifications of an event of a project
    metrics: Metrics
    vault: Vault
    sandbox: Sandbox
