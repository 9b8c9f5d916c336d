"""The engine's dependency bundle: what a runner needs from the process it runs in."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from app.engine.sandbox import Sandbox
from app.keyring.vault import Vault
from app.metrics import Metrics
from app.models import Deployment
from app.settings import Settings

Enqueue = Callable[[Deployment], Awaitable[object]]


@dataclasses.dataclass
class Engine:
    """What a runner needs from its process: settings, identity, Redis, the queue (to advance a
    deployment, and to report its status to the forge it came from) and metrics."""

    settings: Settings
    holder: str
    redis: Redis
    enqueue: Enqueue
    report: Enqueue
    metrics: Metrics
    vault: Vault
    sandbox: Sandbox
